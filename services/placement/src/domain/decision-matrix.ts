import type { PlacementFilter } from '@rxt/contracts'
import type { DeployManifest } from '@rxt/contracts/manifest'
import { formatUsd, type ProviderManifest, type Workload } from '@rxt/platform-sdk'
import type { CostEstimate } from './cost.ts'

/** The label of deploy.yaml's metadata asking for a GPU (`"true"`). */
export const gpuLabel = 'rxt.dev/gpu'

/** What a provider's state says about it, as placement heard: enabled by an operator, and healthy. */
export interface ProviderState {
  readonly enabled: boolean
  readonly health: { readonly healthy: boolean; readonly checkedAt: string | null; readonly message: string }
}

/** What one rule sees: the workload (overrides applied), one provider, its state and its cost. */
export interface RuleInput {
  readonly manifest: DeployManifest
  readonly workload: Workload
  readonly provider: ProviderManifest
  readonly state: ProviderState
  readonly cost: CostEstimate
}

/** One row of the decision matrix: a named hard filter; every candidate is put through every one. */
export interface FilterRule {
  readonly name: string
  /** What the rule asks, for the README and for people. */
  readonly asks: string
  readonly check: (input: RuleInput) => { readonly passed: boolean; readonly reason: string }
}

const list = (items: readonly string[]) => (items.length === 0 ? 'none' : items.join(', '))
const pass = (reason: string) => ({ passed: true, reason })
const fail = (reason: string) => ({ passed: false, reason })
const isStateful = (m: DeployManifest) => m.spec.stateful || (m.spec.volumes ?? []).length > 0
const wants = (m: DeployManifest) => m.spec.platform?.constraints

/**
 * The decision matrix, as data: each provider is measured against every rule in this order, and a
 * provider that fails any is not eligible. Each reason names the provider and the requirement, so a
 * person knows what to change. Pure.
 */
export const decisionMatrix: readonly FilterRule[] = [
  {
    name: 'enabled',
    asks: 'an operator has not disabled the provider',
    check: ({ provider, state }) =>
      state.enabled
        ? pass(`${provider.metadata.name} is enabled`)
        : fail(`${provider.metadata.name} is disabled; an operator must enable it before it takes workloads`),
  },
  {
    name: 'healthy',
    asks: 'its last health report says healthy and is at most three intervals old',
    check: ({ provider, state }) => {
      const name = provider.metadata.name
      const when = state.health.checkedAt === null ? 'never checked' : `checked ${state.health.checkedAt}`
      const why = state.health.message === '' ? '' : `: ${state.health.message}`
      return state.health.healthy
        ? pass(`${name} is healthy (${when})`)
        : fail(`${name} is unhealthy (${when}${why}); it takes workloads again once its health check passes`)
    },
  },
  {
    name: 'preference',
    asks: 'platform.preference allows its compute kind (container: k8s, vm: vm, auto: both)',
    check: ({ manifest, provider }) => {
      const preference = manifest.spec.platform?.preference ?? 'auto'
      const kind = provider.spec.capabilities.compute
      const allowed = preference === 'auto' || (preference === 'container' ? kind === 'k8s' : kind === 'vm')
      const other = kind === 'k8s' ? 'container' : 'vm'
      return allowed
        ? pass(`${provider.metadata.name} runs ${kind}, which platform.preference ${preference} allows`)
        : fail(
            `${provider.metadata.name} runs ${kind} but platform.preference is ${preference}; set it to ${other} or auto to allow it`,
          )
    },
  },
  {
    name: 'state',
    asks: 'stateful (or with volumes): a VM provider that keeps state, or a container provider with pvc storage and the stateful capability',
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      const can = provider.spec.capabilities
      if (!isStateful(manifest)) return pass(`stateless: ${name} need keep no state`)
      const storage: readonly string[] = can.storage
      if (can.compute === 'vm')
        return can.stateful
          ? pass(`stateful: ${name} keeps VM disks (${list(storage)})`)
          : fail(`stateful: ${name} is a VM provider that keeps no state`)
      return can.stateful && storage.includes('pvc')
        ? pass(`stateful: ${name} offers persistent volume claims on containers`)
        : fail(
            `stateful workloads go to VMs unless the container provider offers pvc storage and the stateful capability; ${name} offers storage ${list(storage)}${can.stateful ? '' : ' and is not stateful'}`,
          )
    },
  },
  {
    name: 'compliance',
    asks: 'it holds every certification in platform.constraints.compliance; pci-dss runs on VMs only',
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      const asked = wants(manifest)?.compliance ?? []
      const certified: readonly string[] = provider.spec.constraints.compliance
      if (asked.includes('pci-dss') && provider.spec.capabilities.compute !== 'vm')
        return fail(`pci-dss workloads run on VMs only; ${name} runs ${provider.spec.capabilities.compute}`)
      const missing = asked.filter((c) => !certified.includes(c))
      if (missing.length > 0)
        return fail(
          `${name} lacks ${missing.join(' and ')} certification (it holds ${list(certified)}) that platform.constraints.compliance requires`,
        )
      return pass(asked.length === 0 ? 'no certification asked' : `${name} holds ${asked.join(' and ')}`)
    },
  },
  {
    name: 'encryption',
    asks: 'hipaa: the provider encrypts volumes and disks at rest',
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      if (!(wants(manifest)?.compliance ?? []).includes('hipaa')) return pass('hipaa not asked')
      return provider.spec.capabilities.encryptionAtRest
        ? pass(`hipaa: ${name} encrypts at rest`)
        : fail(`hipaa workloads need encryption at rest, which ${name} does not offer`)
    },
  },
  {
    name: 'regions',
    asks: 'it runs in one of platform.constraints.regions, when given',
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      const asked = wants(manifest)?.regions
      const holds = provider.spec.constraints.regions
      if (asked === undefined) return pass(`no region asked; ${name} runs in ${list(holds)}`)
      const shared = asked.filter((r) => holds.includes(r))
      return shared.length > 0
        ? pass(`${name} runs in ${shared.join(', ')}`)
        : fail(
            `${name} runs in ${list(holds)}, none of platform.constraints.regions (${list(asked)}); add one of its regions to allow it`,
          )
    },
  },
  {
    name: 'gpu',
    asks: `a GPU when metadata.labels["${gpuLabel}"] is "true"`,
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      if (manifest.metadata.labels?.[gpuLabel] !== 'true') return pass('no GPU asked')
      return provider.spec.capabilities.gpu
        ? pass(`${name} offers GPUs`)
        : fail(`${name} offers no GPU but the manifest's ${gpuLabel} label asks for one`)
    },
  },
  {
    name: 'protocols',
    asks: "it serves every port's protocol",
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      const serves: readonly string[] = provider.spec.capabilities.protocols
      const missing = (manifest.spec.ports ?? []).filter((p) => !serves.includes(p.protocol))
      return missing.length === 0
        ? pass(`${name} serves every port's protocol`)
        : fail(
            `${name} does not serve ${missing.map((p) => `${p.protocol} (port ${p.name}, ${p.port})`).join(', ')}; it serves ${list(serves)}`,
          )
    },
  },
  {
    name: 'tls',
    asks: 'it terminates TLS when network.tls is not off',
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      const tls = manifest.spec.network?.tls
      if (manifest.spec.network === undefined || tls === 'off') return pass('no TLS asked')
      return provider.spec.capabilities.tls
        ? pass(`${name} terminates TLS`)
        : fail(
            `${name} cannot terminate TLS but network.tls is ${tls}; set network.tls to off or choose a provider with TLS`,
          )
    },
  },
  {
    name: 'autoscaling',
    asks: 'it autoscales when spec.autoscaling is set (and minReplicas is at most maxReplicas)',
    check: ({ manifest, provider }) => {
      const name = provider.metadata.name
      const scaling = manifest.spec.autoscaling
      if (scaling === undefined) return pass('no autoscaling asked')
      if (scaling.minReplicas > scaling.maxReplicas)
        return fail(
          `${name} cannot scale between ${scaling.minReplicas} and ${scaling.maxReplicas}: autoscaling.minReplicas is above autoscaling.maxReplicas; set minReplicas at most maxReplicas`,
        )
      return provider.spec.capabilities.autoscaling
        ? pass(`${name} autoscales`)
        : fail(`${name} does not autoscale but spec.autoscaling is set; remove it and set spec.replicas`)
    },
  },
  {
    name: 'size',
    asks: "a replica's CPU and memory, the most replicas and the volumes fit its max",
    check: ({ manifest, workload, provider }) => {
      const name = provider.metadata.name
      const max = provider.spec.capabilities.max
      const over = [
        workload.cpu > max.cpu
          ? `resources.cpu ${workload.cpu} is above its ${max.cpu} vCPU per replica`
          : '',
        workload.memoryMiB > max.memoryMiB
          ? `resources.memory ${workload.memoryMiB} MiB is above its ${max.memoryMiB} MiB per replica`
          : '',
        workload.maxReplicas > max.replicas
          ? `${workload.maxReplicas === manifest.spec.replicas ? 'spec.replicas' : 'autoscaling.maxReplicas'} ${workload.maxReplicas} is above its ${max.replicas} replicas`
          : '',
        workload.volumeGiB > max.storageGiB
          ? `spec.volumes total ${workload.volumeGiB} GiB, above its ${max.storageGiB} GiB`
          : '',
      ].filter((o) => o !== '')
      return over.length === 0
        ? pass(
            `${name} takes ${workload.cpu} vCPU, ${workload.memoryMiB} MiB, ${workload.maxReplicas} replicas`,
          )
        : fail(`${name} is too small: ${over.join('; ')}`)
    },
  },
  {
    name: 'cost',
    asks: 'the estimated monthly cost is within platform.constraints.maxMonthlyCost',
    check: ({ manifest, provider, cost }) => {
      const name = provider.metadata.name
      const ceiling = wants(manifest)?.maxMonthlyCost
      const estimate = `${formatUsd(cost.monthlyUsd)}/month`
      if (ceiling === undefined) return pass(`${name} costs an estimated ${estimate}; no ceiling asked`)
      return cost.monthlyUsd <= ceiling
        ? pass(`${name} costs an estimated ${estimate}, within ${formatUsd(ceiling)}`)
        : fail(
            `${name} would cost ${estimate}, above platform.constraints.maxMonthlyCost ${formatUsd(ceiling)}`,
          )
    },
  },
]

/** Every rule of the matrix applied to one provider, in order: each filter passed or failed, and why. */
export const applyMatrix = (input: RuleInput): PlacementFilter[] =>
  decisionMatrix.map((rule) => ({ name: rule.name, ...rule.check(input) }))
