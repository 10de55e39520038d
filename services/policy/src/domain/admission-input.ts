import { createHash } from 'node:crypto'
import type { PolicyAdmit } from '@rxt/contracts'
import { loadManifest } from '@rxt/contracts/manifest'
// The platform SDK's pure application of an environment's overrides and its reading of a workload's
// numbers: one copy, so policy judges the manifest exactly as the router plans it.
import { applyEnvironment, describeWorkload, overridesFrom } from '@rxt/platform-sdk'

/** The organisation's plan, whose quotas (bundle data `plans`) apply. */
export interface TenantOfInput {
  readonly id: string
  readonly plan: string
}

/** What the policies read of an admission: `input` of rxt/decision/result. */
export interface AdmissionInput {
  readonly action: 'deploy'
  readonly tenant: TenantOfInput
  readonly project: { readonly id: string }
  readonly environment: { readonly id: string; readonly name: string }
  readonly deployment: { readonly id: string; readonly sourceId: string | null }
  /** The manifest with both layers of the environment's overrides applied. */
  readonly manifest: unknown
  /** Its numbers: CPUs and MiB a replica, replicas at rest and at most. */
  readonly workload: {
    readonly cpu: number
    readonly memoryMiB: number
    readonly replicas: number
    readonly maxReplicas: number
  }
  readonly placement: Pick<PolicyAdmit['placement'], 'provider' | 'platform' | 'kind' | 'target'>
}

/**
 * The policy input of cmd.policy.admit, or why there is none (a manifest that does not load, a digest
 * that does not match, overrides that are not overrides): a problem refuses, never half-judges.
 */
export function admissionInput(
  command: PolicyAdmit,
  plan: string,
): { readonly ok: true; readonly input: AdmissionInput } | { readonly ok: false; readonly problem: string } {
  const loaded = loadManifest(command.manifest)
  if (!loaded.ok)
    return {
      ok: false,
      problem: `the manifest is not valid: ${loaded.violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
    }
  const digest = `sha256:${createHash('sha256').update(command.manifest).digest('hex')}`
  if (digest !== command.manifestDigest)
    return { ok: false, problem: `the manifest's digest is ${digest}, not ${command.manifestDigest}` }
  // Judged without the environment's stored overrides, a deployment could be planned with more than
  // was admitted (the router and placement apply what they last heard of): not knowing them refuses.
  if (command.overrides === undefined)
    return {
      ok: false,
      problem:
        "the environment's stored overrides did not come with the deployment, so what would be planned is unknown: retry it once the registry's news of the environment has reached the orchestrator",
    }
  const overrides = overridesFrom(command.overrides)
  if (overrides === undefined)
    return { ok: false, problem: "the command's overrides are not valid deploy.yaml environment overrides" }
  const manifest = applyEnvironment(loaded.manifest, command.environment, overrides)
  const workload = describeWorkload(manifest)
  const { provider, platform, kind, target } = command.placement
  return {
    ok: true,
    input: {
      action: 'deploy',
      tenant: { id: command.tenantId, plan },
      project: { id: command.projectId },
      environment: { id: command.envId, name: command.environment },
      deployment: { id: command.deploymentId, sourceId: command.sourceDeploymentId },
      manifest,
      workload: {
        cpu: workload.cpu,
        memoryMiB: workload.memoryMiB,
        replicas: workload.replicas,
        maxReplicas: workload.maxReplicas,
      },
      placement: { provider, platform, kind, target },
    },
  }
}

/**
 * An input given to POST /v1/evaluate, with `workload` read from its `manifest` when that is a valid
 * deploy.yaml and no workload was given (so the plan's quotas apply as in admission); else as given.
 */
export function withWorkload(input: Record<string, unknown>): Record<string, unknown> {
  if (input.workload !== undefined || typeof input.manifest !== 'object' || input.manifest === null)
    return input
  const loaded = loadManifest(JSON.stringify(input.manifest))
  if (!loaded.ok) return input
  const workload = describeWorkload(loaded.manifest)
  return {
    ...input,
    workload: {
      cpu: workload.cpu,
      memoryMiB: workload.memoryMiB,
      replicas: workload.replicas,
      maxReplicas: workload.maxReplicas,
    },
  }
}
