import { createHash } from 'node:crypto'
import type {
  DeployApply,
  DeployPlan,
  DestroyFailed,
  Envelope,
  NetworkFailed,
  NetworkReady,
  PlacementFailed,
  PlacementRecommended,
  PolicyAdmitted,
  PolicyDenied,
  Provisioned,
  ProvisionFailed,
  RolledOut,
  RolloutFailed,
  RouteFailed,
  RoutePlanned,
  SecretGranted,
  SecretGrantRefused,
  Verified,
  VerifyFailed,
} from '@rxt/contracts'
import { type Compensation, defineSaga, type Settlement } from '@rxt/kit'

/**
 * Why a deployment was made: a push (CI published its image), a person, a rollback, a promotion, a
 * retry of a failed or cancelled one, or a secret's rotation (what runs, deployed again with it).
 */
export type DeploymentTrigger = 'push' | 'manual' | 'rollback' | 'promote' | 'retry' | 'rotation'

/** What ran in the environment when a deploy started: restored if the deploy fails. */
export interface PreviousDeployment {
  readonly deploymentId: string
  readonly plan: DeployPlan
}

/** What a deploy saga is started with: the command's payload, its tenant, and what runs now. */
export interface DeployInput extends Omit<DeployApply, 'commitSha'> {
  readonly tenantId: string
  readonly commitSha: string | null
  readonly trigger?: DeploymentTrigger
  /** The deployment a rollback, a promotion or a retry deploys again (its artifact and manifest). */
  readonly sourceDeploymentId?: string | null
  /** Who asked, for a manual deploy, rollback or promotion. */
  readonly requestedBy?: string | null
  /** The environment's ready deployment when this one started, if any (set when the saga starts). */
  readonly previous?: PreviousDeployment | null
}

/**
 * What its steps left: the plan (place), the environment (provision), the workload (rollout), how it
 * is reached (network), health (verify).
 */
export interface DeployResults {
  readonly place?: {
    readonly decisionId: string
    readonly provider: string
    readonly platform: PlacementRecommended['platform']
    readonly kind: PlacementRecommended['kind']
    readonly target: PlacementRecommended['target']
    readonly reasoning: string
  }
  readonly admission?: {
    readonly decisionId: string
    readonly bundleRevision: string
    readonly waived: PolicyAdmitted['waived']
  }
  readonly plan?: { readonly plan: DeployPlan; readonly provider: string; readonly reason: string }
  /** Null when the plan's workload reads no secret (the step was skipped). */
  readonly secrets?: {
    readonly grantId: string
    readonly expiresAt: string
    readonly secrets: SecretGranted['secrets']
  } | null
  readonly provision?: { readonly resourceIds: readonly string[] }
  readonly network?: { readonly hostnames: readonly string[]; readonly vip: string | null }
  readonly rollout?: { readonly resourceIds: readonly string[]; readonly endpoints: RolledOut['endpoints'] }
  readonly verify?: {
    readonly revision: number | null
    readonly replicas: { desired: number; ready: number }
  }
}

/**
 * A deployment's id, from what it deploys: the same tenant, project, environment, commit and artifact
 * are the same deployment (a second start returns it). A deploy made by a person, a rollback or a
 * promotion adds what makes it another (`cause`: its request's key, or the deployments it comes from).
 * UUID-shaped (version 8, RFC 9562 §5.8).
 */
export function deploymentIdOf(parts: {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  readonly commitSha: string | null
  readonly artifactRef: string
  readonly cause?: string
}): string {
  const hex = createHash('sha256')
    .update(
      JSON.stringify([
        parts.tenantId,
        parts.projectId,
        parts.envId,
        parts.commitSha ?? '',
        parts.artifactRef,
        ...(parts.cause === undefined ? [] : [parts.cause]),
      ]),
    )
    .digest('hex')
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/**
 * What placement, policy and the router are told of a deployment: who, where, and the manifest with
 * the environment's stored overrides (absent: not known when it started).
 */
const deploymentOf = (sagaId: string, input: DeployInput) => ({
  deploymentId: sagaId,
  tenantId: input.tenantId,
  projectId: input.projectId,
  envId: input.envId,
  environment: input.environment,
  manifest: input.manifest,
  manifestDigest: input.manifestDigest,
  ...(input.overrides === undefined ? {} : { overrides: input.overrides }),
})

/**
 * A deploy saga's plan: its plan step's (version 3), or, in a saga of an earlier version, its place
 * step's (the router chose and planned in one step).
 */
export const planOf = (results: Readonly<Record<string, unknown>>) =>
  ((results as DeployResults).plan?.plan ??
    (results as { place?: { plan?: DeployPlan } }).place?.plan) as DeployPlan
const family = (plan: DeployPlan) => (plan.platform === 'rxt-spot' ? 'spot' : 'sddc')

/** The secret references a plan's workload reads, once each, in order. */
export const secretRefsOf = (plan: DeployPlan): string[] => [
  ...new Set(plan.deploy.secrets.map((secret) => secret.ref)),
]

/**
 * The plan the rollout is sent: with the secrets step's grant, which the adapter reads the values by,
 * and each secret's pinned version (a new version changes the workload, so its pods restart with it).
 */
const withGrant = (plan: DeployPlan, results: Readonly<Record<string, unknown>>): DeployPlan => {
  // A skipped step's result is null.
  const granted = (results as DeployResults).secrets ?? undefined
  if (granted === undefined) return plan
  const versions = new Map(granted.secrets.map((s) => [s.ref, s.version]))
  return {
    ...plan,
    deploy: {
      ...plan.deploy,
      secrets: plan.deploy.secrets.map((s) => {
        const version = versions.get(s.ref)
        return version === undefined ? s : { ...s, version }
      }),
    },
    secretGrant: { grantId: granted.grantId, expiresAt: granted.expiresAt },
  }
}
const refused = (code: string, reason: string, retryable: boolean): Settlement => ({
  ok: false,
  code,
  reason,
  retryable,
})

/**
 * What ran before, deployed again under this deployment's keys: how a failed redeploy of a live
 * environment is undone (its provider's environment is not destroyed under the workload it runs).
 */
const restorePlan = (previous: DeployPlan, sagaId: string): DeployPlan => ({
  ...previous,
  deploymentId: sagaId,
  provision: { ...previous.provision, key: `${sagaId}:restore:provision` },
  deploy: { ...previous.deploy, key: `${sagaId}:restore:deploy` },
  network: previous.network === null ? null : { ...previous.network, key: `${sagaId}:restore:network` },
})

/** The deployment that ran before on the same provider: restored, not destroyed, when this one fails. */
const previousHere = (input: DeployInput, plan: DeployPlan) =>
  input.previous !== undefined && input.previous !== null && input.previous.plan.provider === plan.provider
    ? input.previous
    : undefined

/**
 * The undo of a step that applies a part of the plan (`command`: `rollout`, `network.configure`) to a
 * live environment: the previous deployment's part again under this deployment's keys, settled by
 * `done` or refused by `failed` (`restore-failed`). Without a previous deployment on the same provider
 * there is nothing to undo: provision's undo destroys the environment, and what the step made with it.
 */
const restoring = (
  command: string,
  done: string,
  failed: string,
  timeoutMs: number,
): Compensation<DeployInput> => ({
  timeoutMs,
  retry: { maxAttempts: 5, backoff: { baseMs: 2_000, maxMs: 60_000 } },
  invoke: ({ sagaId, input, results }) => {
    const plan = planOf(results)
    const previous = previousHere(input, plan)
    if (previous === undefined) return undefined
    return {
      type: `cmd.${family(plan)}.${command}`,
      key: plan.envId,
      data: restorePlan(previous.plan, sagaId),
    }
  },
  settle: {
    [done]: () => ({ ok: true }),
    [failed]: (event: Envelope) => {
      // Every step's failure event has the same shape (ProvisionFailed, RolloutFailed, NetworkFailed).
      const data = event.data as RolloutFailed | NetworkFailed
      return refused('restore-failed', data.reason, data.retryable)
    },
  },
})

/** The command that removes everything of a plan's environment on its provider. */
export const destroyCommand = (plan: DeployPlan, sagaId: string, reason: string) => ({
  type: `cmd.${family(plan)}.destroy`,
  key: plan.envId,
  data: {
    envId: plan.envId,
    deploymentId: sagaId,
    tenantId: plan.tenantId,
    provider: plan.provider,
    reason,
  },
})

/** How a destroy command is answered. */
export const destroySettlers = {
  'evt.destroyed': () => ({ ok: true }) as const,
  'evt.destroy.failed': (event: Envelope) => {
    const data = event.data as DestroyFailed
    return refused('destroy-failed', data.reason, data.retryable)
  },
}

const retireAttempts = 5

/**
 * The deploy saga, top to bottom: place (placement recommends the provider, and why), admission
 * (policy admits or denies it there, before anything exists), plan (the router makes the deploy plan
 * for that provider), provision (the adapter creates the environment: namespace, quotas, policies; VM
 * folder, segment), rollout (the workload: image, replicas, ports), network (ingress, load balancing,
 * TLS, DNS: routes to what was rolled out), verify (the plan's image runs, every replica ready), retire
 * (what ran before on another provider is removed). A failure undoes what was done, last first: an
 * environment that ran nothing before is destroyed; one that ran a deployment on the same provider gets
 * that deployment's routes, workload and environment back.
 *
 * Version 2 made the rollout a step of its own (in version 1 the provision step rolled out too; ADR 0020);
 * version 3 split the router's place step into placement, admission and the plan (ADR 0021); version 4
 * added the secrets step between the plan and provision (ADR 0023).
 */
export const deploySaga = defineSaga<DeployInput>({
  type: 'deploy',
  version: 4,
  timeoutMs: 30 * 60_000,
  steps: [
    {
      name: 'place',
      timeoutMs: 30_000,
      // A provider only unhealthy for now is worth waiting for a few minutes.
      retry: { maxAttempts: 10, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ sagaId, input }) => ({
        type: 'cmd.placement.recommend',
        key: input.envId,
        data: deploymentOf(sagaId, input),
      }),
      settle: {
        'evt.placement.recommended': (event: Envelope) => {
          const data = event.data as PlacementRecommended
          return {
            ok: true,
            result: {
              decisionId: data.decisionId,
              provider: data.provider,
              platform: data.platform,
              kind: data.kind,
              target: data.target,
              reasoning: data.reasoning,
            },
          }
        },
        'evt.placement.failed': (event: Envelope) => {
          const data = event.data as PlacementFailed
          return refused('no-provider', data.reason, data.retryable)
        },
      },
    },
    {
      // Policy (OPA) admits or denies the deployment where placement put it, before anything exists.
      name: 'admission',
      timeoutMs: 30_000,
      retry: { maxAttempts: 5, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ sagaId, input, results }) => {
        const placed = (results as DeployResults).place
        return {
          type: 'cmd.policy.admit',
          key: input.envId,
          data: {
            ...deploymentOf(sagaId, input),
            sourceDeploymentId: input.sourceDeploymentId ?? null,
            placement: {
              decisionId: placed?.decisionId,
              provider: placed?.provider,
              platform: placed?.platform,
              kind: placed?.kind,
              target: placed?.target,
            },
          },
        }
      },
      settle: {
        'evt.policy.admitted': (event: Envelope) => {
          const data = event.data as PolicyAdmitted
          return {
            ok: true,
            result: { decisionId: data.decisionId, bundleRevision: data.bundleRevision, waived: data.waived },
          }
        },
        'evt.policy.denied': (event: Envelope) => {
          const data = event.data as PolicyDenied
          const violations = data.violations.map((v) => `${v.policy}: ${v.message}`).join('; ')
          return refused(
            'policy-denied',
            `denied by policy (bundle ${data.bundleRevision}): ${violations}`,
            false,
          )
        },
      },
    },
    {
      name: 'plan',
      timeoutMs: 30_000,
      retry: { maxAttempts: 5, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ sagaId, input, results }) => ({
        type: 'cmd.router.plan',
        key: input.envId,
        data: {
          ...deploymentOf(sagaId, input),
          artifactRef: input.artifactRef,
          provider: (results as DeployResults).place?.provider,
        },
      }),
      settle: {
        'evt.route.planned': (event: Envelope) => {
          const data = event.data as RoutePlanned
          return { ok: true, result: { plan: data.plan, provider: data.provider, reason: data.reason } }
        },
        'evt.route.failed': (event: Envelope) => {
          const data = event.data as RouteFailed
          return refused('plan-refused', data.reason, data.retryable === true)
        },
      },
    },
    {
      // The secrets the plan refers to: resolved and pinned, and a minutes-long grant for the adapter
      // to read their values by (over HTTP, never the bus: ADR 0023). A plan with none skips it.
      name: 'secrets',
      timeoutMs: 30_000,
      retry: { maxAttempts: 5, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ sagaId, input, results }) => {
        const refs = secretRefsOf(planOf(results))
        if (refs.length === 0) return undefined
        return {
          type: 'cmd.secret.issue',
          key: input.envId,
          data: { deploymentId: sagaId, projectId: input.projectId, envId: input.envId, refs },
        }
      },
      settle: {
        'evt.secret.granted': (event: Envelope) => {
          const data = event.data as SecretGranted
          return {
            ok: true,
            result: { grantId: data.grantId, expiresAt: data.expiresAt, secrets: data.secrets },
          }
        },
        'evt.secret.refused': (event: Envelope) => {
          const data = event.data as SecretGrantRefused
          return refused('secrets-missing', data.reason, data.retryable)
        },
      },
    },
    {
      name: 'provision',
      timeoutMs: 10 * 60_000,
      retry: { maxAttempts: 3, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ results }) => {
        const plan = planOf(results)
        return { type: `cmd.${family(plan)}.provision.request`, key: plan.envId, data: plan }
      },
      settle: {
        'evt.provisioned': (event: Envelope) => ({
          ok: true,
          result: { resourceIds: (event.data as Provisioned).resourceIds },
        }),
        'evt.provision.failed': (event: Envelope) => {
          const data = event.data as ProvisionFailed
          return refused('platform-refused', data.reason, data.retryable)
        },
      },
      compensate: {
        timeoutMs: 5 * 60_000,
        retry: { maxAttempts: 5, backoff: { baseMs: 2_000, maxMs: 60_000 } },
        invoke: ({ sagaId, input, results }) => {
          const plan = planOf(results)
          const previous = previousHere(input, plan)
          if (previous !== undefined)
            return {
              type: `cmd.${family(plan)}.provision.request`,
              key: plan.envId,
              data: restorePlan(previous.plan, sagaId),
            }
          return destroyCommand(
            plan,
            sagaId,
            'the deployment did not complete: what it provisioned is undone',
          )
        },
        settle: {
          ...destroySettlers,
          'evt.provisioned': () => ({ ok: true }),
          'evt.provision.failed': (event: Envelope) => {
            const data = event.data as ProvisionFailed
            return refused('restore-failed', data.reason, data.retryable)
          },
        },
      },
    },
    {
      name: 'rollout',
      timeoutMs: 10 * 60_000,
      retry: { maxAttempts: 3, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ results }) => {
        const plan = planOf(results)
        return { type: `cmd.${family(plan)}.rollout`, key: plan.envId, data: withGrant(plan, results) }
      },
      settle: {
        'evt.rolled.out': (event: Envelope) => {
          const data = event.data as RolledOut
          return { ok: true, result: { resourceIds: data.resourceIds, endpoints: data.endpoints } }
        },
        'evt.rollout.failed': (event: Envelope) => {
          const data = event.data as RolloutFailed
          return refused('platform-refused', data.reason, data.retryable)
        },
      },
      // A live environment gets the previous deployment's workload back.
      compensate: restoring('rollout', 'evt.rolled.out', 'evt.rollout.failed', 10 * 60_000),
    },
    {
      name: 'network',
      timeoutMs: 5 * 60_000,
      retry: { maxAttempts: 3, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ results }) => {
        const plan = planOf(results)
        return { type: `cmd.${family(plan)}.network.configure`, key: plan.envId, data: plan }
      },
      settle: {
        'evt.network.ready': (event: Envelope) => {
          const data = event.data as NetworkReady
          return { ok: true, result: { hostnames: data.hostnames, vip: data.vip } }
        },
        'evt.network.failed': (event: Envelope) => {
          const data = event.data as NetworkFailed
          return refused('network-refused', data.reason, data.retryable)
        },
      },
      // A live environment gets the previous deployment's routes back.
      compensate: restoring('network.configure', 'evt.network.ready', 'evt.network.failed', 5 * 60_000),
    },
    {
      name: 'verify',
      timeoutMs: 60_000,
      retry: { maxAttempts: 15, backoff: { baseMs: 2_000, maxMs: 20_000 } },
      invoke: ({ results }) => {
        const plan = planOf(results)
        return { type: `cmd.${family(plan)}.verify`, key: plan.envId, data: plan }
      },
      settle: {
        'evt.verified': (event: Envelope) => {
          const data = event.data as Verified
          return { ok: true, result: { revision: data.revision, replicas: data.replicas } }
        },
        'evt.verify.failed': (event: Envelope) => {
          const data = event.data as VerifyFailed
          return refused('unhealthy', data.reason, data.retryable)
        },
      },
    },
    {
      // Placement moved the environment: what ran on the other provider goes once this one is healthy.
      name: 'retire',
      timeoutMs: 5 * 60_000,
      retry: { maxAttempts: retireAttempts, backoff: { baseMs: 2_000, maxMs: 60_000 } },
      irreversible: true,
      invoke: ({ sagaId, input, results }) => {
        const plan = planOf(results)
        const previous = input.previous
        if (previous === undefined || previous === null || previous.plan.provider === plan.provider)
          return undefined
        return destroyCommand(previous.plan, sagaId, `deployment ${sagaId} replaced it on ${plan.provider}`)
      },
      // The new deployment is healthy: what could not be removed on the other provider is left for a
      // person (said in the step's result and the log), not undone by destroying what now runs.
      settle: {
        'evt.destroyed': () => ({ ok: true, result: { retired: true } }),
        'evt.destroy.failed': (event: Envelope, { attempt }) => {
          const data = event.data as DestroyFailed
          if (data.retryable && attempt < retireAttempts) return refused('destroy-failed', data.reason, true)
          return { ok: true, result: { retired: false, left: data.reason } }
        },
      },
    },
  ],
})

/**
 * Version 3 of the deploy saga, kept so that a deployment started before the upgrade runs to its end on
 * the steps it started with: version 4's without the secrets step (its plans named no secret that
 * reached a workload).
 */
export const deploySagaV3 = defineSaga<DeployInput>({
  type: 'deploy',
  version: 3,
  timeoutMs: deploySaga.timeoutMs,
  steps: deploySaga.steps.filter((step) => step.name !== 'secrets'),
})

/**
 * Version 2 of the deploy saga, kept so that a deployment started before the upgrade runs to its end on
 * the steps it started with (the engine follows an instance's steps by index): place (the router chose
 * and planned in one step), then the same provision, rollout, network, verify and retire as version 3.
 * Its place step is only settled by an answer to the command sent before the upgrade; another attempt
 * cannot be asked (the router no longer chooses) and fails the deployment, to be retried on version 3.
 */
export const deploySagaV2 = defineSaga<DeployInput>({
  type: 'deploy',
  version: 2,
  timeoutMs: 30 * 60_000,
  steps: [
    {
      name: 'place',
      timeoutMs: 30_000,
      retry: { maxAttempts: 1, backoff: { baseMs: 2_000, maxMs: 30_000 } },
      invoke: ({ sagaId, input }) => ({
        type: 'cmd.placement.recommend',
        key: input.envId,
        data: deploymentOf(sagaId, input),
      }),
      settle: {
        'evt.route.planned': (event: Envelope) => {
          const data = event.data as RoutePlanned
          return { ok: true, result: { plan: data.plan, provider: data.provider, reason: data.reason } }
        },
        'evt.route.failed': (event: Envelope) => {
          const data = event.data as RouteFailed
          return refused('no-provider', data.reason, false)
        },
        'evt.placement.recommended': () =>
          refused(
            'upgraded',
            'this deployment started before the upgrade that split placement from planning: retry it (POST /v1/deployments/:id/retry)',
            false,
          ),
        'evt.placement.failed': (event: Envelope) =>
          refused('no-provider', (event.data as PlacementFailed).reason, false),
      },
    },
    ...deploySagaV3.steps.slice(3),
  ],
})

/** The deploy saga of a version: the one an instance started on (the newest when not known). */
export const deploySagaOf = (version?: number) =>
  version === deploySagaV2.version
    ? deploySagaV2
    : version === deploySagaV3.version
      ? deploySagaV3
      : deploySaga

/** The URLs a ready deployment answers on: its host names, by the scheme its TLS setting gives. */
export function urlsOf(results: Readonly<Record<string, unknown>>): string[] {
  const r = results as DeployResults
  const tls = (planOf(results) as DeployPlan | undefined)?.network?.tls
  const scheme = tls === 'off' ? 'http' : 'https'
  return (r.network?.hostnames ?? []).map((host) => `${scheme}://${host}`)
}
