import type { DeployManifest } from '@rxt/contracts/manifest'
import type { ProviderManifest } from '@rxt/platform-sdk'
import { assess } from './eligibility.ts'
import { formatUsd } from './quantities.ts'
import { describeWorkload, estimateMonthlyCost, type Workload } from './workload.ts'

export { defaultCpu, defaultMemoryMiB, parseBytesMiB, parseCpu } from './quantities.ts'

/** A provider as the router knows it: its provider.yaml, whether an operator enabled it, its last health check. */
export interface ProviderView {
  readonly manifest: ProviderManifest
  readonly enabled: boolean
  readonly health: { readonly healthy: boolean; readonly checkedAt: string | null; readonly message: string }
}

/** One provider considered for a workload: eligible or not, why, and what it would cost a month. */
export interface Candidate {
  readonly provider: string
  readonly eligible: boolean
  /** Why not (each a reason a person can act on), or why it fits. */
  readonly reasons: string[]
  /** Estimated US dollars a month, for ineligible providers too (to compare); null when there is no estimate. */
  readonly monthlyCost: number | null
}

/** The outcome of placement: the chosen provider and why, or why none; every provider considered either way. */
export type Selection =
  | {
      readonly ok: true
      readonly provider: string
      readonly kind: 'k8s' | 'vm'
      readonly reason: string
      readonly monthlyCost: number
      readonly candidates: Candidate[]
    }
  | {
      readonly ok: false
      readonly reason: string
      readonly candidates: Candidate[]
      /** A provider would take it once healthy again: the same request may succeed later. */
      readonly retryable: boolean
    }

interface Scored {
  readonly view: ProviderView
  readonly candidate: Candidate
  readonly cost: number
  readonly transient: boolean
}

const preferencePhrase: Readonly<Record<Workload['preference'], string>> = {
  auto: 'no platform preference',
  container: 'container preferred',
  vm: 'VM preferred',
}

/** Cheapest first; at equal cost a real provider before a simulated one, then by name. */
function byPlacementOrder(a: Scored, b: Scored): number {
  if (a.cost !== b.cost) return a.cost - b.cost
  const simulated = Number(a.view.manifest.metadata.simulated) - Number(b.view.manifest.metadata.simulated)
  if (simulated !== 0) return simulated
  const [x, y] = [a.candidate.provider, b.candidate.provider]
  return x < y ? -1 : x > y ? 1 : 0
}

/** What the chosen provider meets, as the sentence puts it: `meets pci-dss in us-east`. */
function meets(manifest: DeployManifest, provider: ProviderManifest): string {
  const wants = manifest.spec.platform?.constraints
  const compliance = wants?.compliance ?? []
  const regions = (wants?.regions ?? []).filter((r) => provider.spec.constraints.regions.includes(r))
  const parts = [
    compliance.length > 0 ? `meets ${compliance.join(' and ')}` : '',
    regions.length > 0 ? `in ${regions.join(' or ')}` : '',
    wants?.maxMonthlyCost !== undefined ? `within ${formatUsd(wants.maxMonthlyCost)}/month` : '',
  ].filter((p) => p !== '')
  return parts.length === 0
    ? 'fits the workload'
    : `${parts[0]?.startsWith('meets') ? '' : 'runs '}${parts.join(' ')}`
}

/** A candidate's first reason, and how many more it has. */
const firstReason = (reasons: readonly string[]) =>
  `${reasons[0] ?? ''}${reasons.length > 1 ? ` (and ${reasons.length - 1} more)` : ''}`

/** Why the winner won over the runner-up when they cost the same. */
function tieBreak(winner: Scored, runnerUp: Scored | undefined): string {
  if (runnerUp === undefined || runnerUp.cost !== winner.cost) return ''
  const because =
    winner.view.manifest.metadata.simulated !== runnerUp.view.manifest.metadata.simulated
      ? `${runnerUp.candidate.provider} is simulated`
      : 'of the name order'
  return `; it ties with ${runnerUp.candidate.provider} on cost and comes first because ${because}`
}

/**
 * Chooses where a deploy.yaml runs: every provider is checked against the manifest (enabled, healthy,
 * compute kind, compliance, regions, protocols, TLS, autoscaling, state, size, cost), and the cheapest
 * eligible one wins; at equal cost a real provider before a simulated one, then by name. Pure and
 * deterministic: the caller reads providers and health, and applies environment overrides beforehand.
 */
export function selectPlatform(manifest: DeployManifest, providers: readonly ProviderView[]): Selection {
  const workload = describeWorkload(manifest)
  const scored: Scored[] = providers.map((view) => {
    const cost = estimateMonthlyCost(workload, view.manifest.spec.pricing)
    const { blockers, fits, transient } = assess(manifest, workload, view.manifest, view, cost)
    const eligible = blockers.length === 0
    const candidate = {
      provider: view.manifest.metadata.name,
      eligible,
      reasons: [...(eligible ? fits : blockers)],
      monthlyCost: cost,
    }
    return { view, candidate, cost, transient }
  })
  scored.sort(byPlacementOrder)
  const eligible = scored.filter((s) => s.candidate.eligible)
  const ineligible = scored.filter((s) => !s.candidate.eligible)
  const candidates = [...eligible, ...ineligible].map((s) => s.candidate)
  const [winner, runnerUp] = eligible

  if (winner === undefined) {
    const why =
      providers.length === 0
        ? 'no provider is registered; an operator must add one'
        : ineligible.map((s) => firstReason(s.candidate.reasons)).join('; ')
    return {
      ok: false,
      reason: `No provider can run ${workload.app}: ${why}`,
      candidates,
      retryable: ineligible.some((s) => s.transient),
    }
  }
  const provider = winner.view.manifest
  const rank = eligible.length === 1 ? 'only' : 'cheapest'
  const reason =
    `${preferencePhrase[workload.preference]}; ${provider.metadata.name} is the ${rank} healthy provider ` +
    `that ${meets(manifest, provider)} (${formatUsd(winner.cost)}/month)${tieBreak(winner, runnerUp)}`
  return {
    ok: true,
    provider: provider.metadata.name,
    kind: provider.spec.capabilities.compute,
    reason,
    monthlyCost: winner.cost,
    candidates,
  }
}
