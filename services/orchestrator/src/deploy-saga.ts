import { createHash } from 'node:crypto'
import type {
  DeployApply,
  DeployPlan,
  DestroyFailed,
  Envelope,
  NetworkFailed,
  NetworkReady,
  Provisioned,
  ProvisionFailed,
  RouteFailed,
  RoutePlanned,
} from '@rxt/contracts'
import { defineSaga, type Settlement } from '@rxt/kit'

/** What a deploy saga is started with: the command's payload and its tenant. */
export interface DeployInput extends DeployApply {
  readonly tenantId: string
}

/** What its steps left: the plan (place), what exists (provision), how it is reached (network). */
export interface DeployResults {
  readonly place?: { readonly plan: DeployPlan; readonly provider: string; readonly reason: string }
  readonly provision?: { readonly resourceIds: readonly string[] }
  readonly network?: { readonly hostnames: readonly string[]; readonly vip: string | null }
}

/**
 * A deployment's id, from what it deploys: the same tenant, project, environment, commit and artifact
 * are the same deployment (a second start returns it). UUID-shaped (version 8, RFC 9562 §5.8).
 */
export function deploymentIdOf(parts: {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  readonly commitSha: string
  readonly artifactRef: string
}): string {
  const hex = createHash('sha256')
    .update(
      JSON.stringify([parts.tenantId, parts.projectId, parts.envId, parts.commitSha, parts.artifactRef]),
    )
    .digest('hex')
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

const planOf = (results: Readonly<Record<string, unknown>>) =>
  (results as DeployResults).place?.plan as DeployPlan
const family = (plan: DeployPlan) => (plan.platform === 'rxt-spot' ? 'spot' : 'sddc')
const refused = (code: string, reason: string, retryable: boolean): Settlement => ({
  ok: false,
  code,
  reason,
  retryable,
})

/**
 * The deploy saga, top to bottom: place (the router chooses the provider and makes the plan), provision
 * (the adapter creates the environment and deploys the workload; undone by destroying the environment),
 * network (ingress, load balancing, TLS, DNS; undone with the environment). Ready once reachable.
 */
export const deploySaga = defineSaga<DeployInput>({
  type: 'deploy',
  version: 1,
  timeoutMs: 30 * 60_000,
  steps: [
    {
      name: 'place',
      timeoutMs: 30_000,
      retry: { maxAttempts: 3, backoff: { baseMs: 1_000, maxMs: 10_000 } },
      invoke: ({ sagaId, input }) => ({
        type: 'cmd.router.plan',
        key: input.envId,
        data: {
          deploymentId: sagaId,
          tenantId: input.tenantId,
          projectId: input.projectId,
          envId: input.envId,
          environment: input.environment,
          artifactRef: input.artifactRef,
          manifest: input.manifest,
          manifestDigest: input.manifestDigest,
          ...(input.overrides === undefined ? {} : { overrides: input.overrides }),
        },
      }),
      settle: {
        'evt.route.planned': (event: Envelope) => {
          const data = event.data as RoutePlanned
          return { ok: true, result: { plan: data.plan, provider: data.provider, reason: data.reason } }
        },
        'evt.route.failed': (event: Envelope) =>
          refused('no-provider', (event.data as RouteFailed).reason, false),
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
        invoke: ({ sagaId, results }) => {
          const plan = planOf(results)
          return {
            type: `cmd.${family(plan)}.destroy`,
            key: plan.envId,
            data: {
              envId: plan.envId,
              deploymentId: sagaId,
              tenantId: plan.tenantId,
              provider: plan.provider,
              reason: 'the deployment did not complete: what it provisioned is undone',
            },
          }
        },
        settle: {
          'evt.destroyed': () => ({ ok: true }),
          'evt.destroy.failed': (event: Envelope) => {
            const data = event.data as DestroyFailed
            return refused('destroy-failed', data.reason, data.retryable)
          },
        },
      },
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
    },
  ],
})

/** The URLs a ready deployment answers on: its host names, by the scheme its TLS setting gives. */
export function urlsOf(results: Readonly<Record<string, unknown>>): string[] {
  const r = results as DeployResults
  const tls = r.place?.plan.network?.tls
  const scheme = tls === 'off' ? 'http' : 'https'
  return (r.network?.hostnames ?? []).map((host) => `${scheme}://${host}`)
}
