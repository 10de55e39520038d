import type { DeployManifest } from '@rxt/contracts/manifest'
import type { ProviderManifest } from '@rxt/platform-sdk'
import { formatUsd } from './quantities.ts'
import type { Preference, Workload } from './workload.ts'

/** The compute kinds each `platform.preference` allows. */
export const allowedCompute: Readonly<Record<Preference, readonly ('k8s' | 'vm')[]>> = {
  auto: ['k8s', 'vm'],
  container: ['k8s'],
  vm: ['vm'],
}

/** What a provider's state says about it, as the router sees it: enabled by an operator, and healthy. */
export interface ProviderState {
  readonly enabled: boolean
  readonly health: { readonly healthy: boolean; readonly checkedAt: string | null; readonly message: string }
}

/** One provider measured against one workload: what stops it (empty when eligible) and what fits. */
export interface Assessment {
  readonly blockers: readonly string[]
  readonly fits: readonly string[]
  /** Its health alone blocks it: it takes the workload once its health check passes. */
  readonly transient: boolean
}

const list = (items: readonly string[]) => (items.length === 0 ? 'none' : items.join(', '))
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/**
 * Every reason a provider cannot take a workload, each naming the provider and the requirement so a
 * person knows what to change; and, for a provider that can, what it meets. Pure: the cost is given.
 */
export function assess(
  manifest: DeployManifest,
  workload: Workload,
  provider: ProviderManifest,
  state: ProviderState,
  monthlyCost: number,
): Assessment {
  const name = provider.metadata.name
  const { capabilities: can, constraints: holds } = provider.spec
  const { spec } = manifest
  const wants = spec.platform?.constraints
  const blockers: string[] = []
  const fits: string[] = []

  if (!state.enabled)
    blockers.push(`${name} is disabled; an operator must enable it before it takes workloads`)
  if (!state.health.healthy) {
    const when = state.health.checkedAt === null ? 'never checked' : `checked ${state.health.checkedAt}`
    const why = state.health.message === '' ? '' : `: ${state.health.message}`
    blockers.push(
      `${name} is unhealthy (${when}${why}); it takes workloads again once its health check passes`,
    )
  }

  if (allowedCompute[workload.preference].includes(can.compute)) {
    fits.push(`${name} runs ${can.compute}, which platform.preference ${workload.preference} allows`)
  } else {
    const other = can.compute === 'k8s' ? 'container' : 'vm'
    blockers.push(
      `${name} runs ${can.compute} but platform.preference is ${workload.preference}; set it to ${other} or auto to allow ${name}`,
    )
  }

  // provider.yaml's schema types the list loosely (a union built at runtime); read it as strings.
  const certified: readonly string[] = holds.compliance
  const missing = (wants?.compliance ?? []).filter((c) => !certified.includes(c))
  if (missing.length > 0) {
    blockers.push(
      `${name} lacks ${missing.join(' and ')} certification (it holds ${list(certified)}) that platform.constraints.compliance requires`,
    )
  } else if ((wants?.compliance ?? []).length > 0) {
    fits.push(`${name} holds ${(wants?.compliance ?? []).join(' and ')}`)
  }

  if (wants?.regions !== undefined) {
    const shared = wants.regions.filter((r) => holds.regions.includes(r))
    if (shared.length === 0) {
      blockers.push(
        `${name} runs in ${list(holds.regions)}, none of platform.constraints.regions (${list(wants.regions)}); add one of its regions to allow it`,
      )
    } else fits.push(`${name} runs in ${shared.join(', ')}`)
  }

  for (const port of spec.ports ?? []) {
    if (!can.protocols.includes(port.protocol)) {
      blockers.push(
        `${name} does not serve ${port.protocol} (port ${port.name}, ${port.port}); it serves ${list(can.protocols)}`,
      )
    }
  }

  if (spec.network !== undefined && spec.network.tls !== 'off' && !can.tls) {
    blockers.push(
      `${name} cannot terminate TLS but network.tls is ${spec.network.tls}; set network.tls to off or choose a provider with TLS`,
    )
  }
  if (spec.autoscaling !== undefined && spec.autoscaling.minReplicas > spec.autoscaling.maxReplicas) {
    const { minReplicas, maxReplicas } = spec.autoscaling
    blockers.push(
      `${name} cannot scale between ${minReplicas} and ${maxReplicas}: autoscaling.minReplicas (${minReplicas}) is above autoscaling.maxReplicas (${maxReplicas}); set minReplicas at most maxReplicas`,
    )
  }
  if (spec.autoscaling !== undefined && !can.autoscaling) {
    blockers.push(`${name} does not autoscale but spec.autoscaling is set; remove it and set spec.replicas`)
  }
  const volumes = spec.volumes ?? []
  if ((spec.stateful || volumes.length > 0) && !can.stateful) {
    const asks = spec.stateful
      ? 'spec.stateful is true'
      : `spec.volumes names ${volumes.map((v) => v.name).join(', ')}`
    blockers.push(`${name} cannot keep state on volumes but ${asks}`)
  }

  if (workload.cpu > can.max.cpu) {
    blockers.push(
      `${name} takes at most ${can.max.cpu} vCPU per replica; resources.cpu asks for ${workload.cpu}`,
    )
  }
  if (workload.memoryMiB > can.max.memoryMiB) {
    blockers.push(
      `${name} takes at most ${can.max.memoryMiB} MiB of memory per replica; resources.memory asks for ${workload.memoryMiB} MiB`,
    )
  }
  if (workload.volumeGiB > can.max.storageGiB) {
    blockers.push(
      `${name} takes at most ${can.max.storageGiB} GiB of storage; spec.volumes total ${workload.volumeGiB} GiB`,
    )
  }
  if (workload.maxReplicas > can.max.replicas) {
    const source = workload.maxReplicas === spec.replicas ? 'spec.replicas' : 'autoscaling.maxReplicas'
    blockers.push(
      `${name} runs at most ${plural(can.max.replicas, 'replica')}; ${source} asks for ${workload.maxReplicas}`,
    )
  }

  const ceiling = wants?.maxMonthlyCost
  if (ceiling !== undefined && monthlyCost > ceiling) {
    blockers.push(
      `${name} would cost ${formatUsd(monthlyCost)}/month, above platform.constraints.maxMonthlyCost ${formatUsd(ceiling)}`,
    )
  } else {
    const within = ceiling === undefined ? '' : `, within ${formatUsd(ceiling)}`
    fits.push(`${name} costs an estimated ${formatUsd(monthlyCost)}/month${within}`)
  }
  return { blockers, fits, transient: blockers.length === 1 && state.enabled && !state.health.healthy }
}
