import type { PlacementCandidate, PlacementTarget, PlacementTerm } from '@rxt/contracts'
import type { DeployManifest } from '@rxt/contracts/manifest'
import { describeWorkload, formatUsd, type ProviderManifest } from '@rxt/platform-sdk'
import { type CostEstimate, egressHint, estimateCost, type PriceQuote } from './cost.ts'
import { applyMatrix, type ProviderState } from './decision-matrix.ts'

/** A provider as placement knows it: its provider.yaml, whether an operator enabled it, its health. */
export interface ProviderView extends ProviderState {
  readonly manifest: ProviderManifest
}

/** An operator's pin of an environment to a provider. */
export interface Pin {
  readonly provider: string
  readonly reason: string
  readonly by: string
}

/** What one recommendation weighs; the manifest is the environment's (its overrides applied). */
export interface RecommendInput {
  readonly manifest: DeployManifest
  readonly providers: readonly ProviderView[]
  /** The latest spot price quotes by provider. */
  readonly prices?: ReadonlyMap<string, PriceQuote>
  readonly pin?: Pin | null
  readonly now: Date
}

export type Recommendation =
  | {
      readonly ok: true
      readonly provider: string
      readonly platform: 'rxt-spot' | 'sddc-flex'
      readonly kind: 'k8s' | 'vm'
      readonly score: number
      readonly reasoning: string
      readonly monthlyCost: number
      readonly target: PlacementTarget
      readonly pinned: { readonly reason: string; readonly by: string } | null
      readonly candidates: PlacementCandidate[]
    }
  | {
      readonly ok: false
      readonly reason: string
      /** A provider would take it once healthy again: the same request may succeed later. */
      readonly retryable: boolean
      readonly candidates: PlacementCandidate[]
    }

/** The weights of the score terms: they add up to 1. */
export const termWeights = { cost: 0.5, fit: 0.3, 'preemption-risk': 0.2 } as const

/**
 * A stateful workload's weights: where its state lives well counts for more than its price (a move
 * or a preemption costs it more than a stateless one), so fit and cost trade places.
 */
export const statefulTermWeights = { cost: 0.3, fit: 0.5, 'preemption-risk': 0.2 } as const

type Weights = typeof termWeights | typeof statefulTermWeights

const isStateful = (manifest: DeployManifest) =>
  manifest.spec.stateful || (manifest.spec.volumes ?? []).length > 0

/** The score terms' weights for a workload. */
export const weightsFor = (manifest: DeployManifest): Weights =>
  isStateful(manifest) ? statefulTermWeights : termWeights

const platformOf = (kind: 'k8s' | 'vm') => (kind === 'k8s' ? 'rxt-spot' : 'sddc-flex')
const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)
const round4 = (n: number) => Math.round(n * 10_000) / 10_000

/** How well a compute kind fits the workload: stateless prefers containers, stateful VMs. */
function fitTerm(manifest: DeployManifest, provider: ProviderManifest, weights: Weights): PlacementTerm {
  const kind = provider.spec.capabilities.compute
  const preference = manifest.spec.platform?.preference ?? 'auto'
  const stateful = isStateful(manifest)
  const [rating, detail] =
    preference !== 'auto'
      ? [1, `platform.preference ${preference} names ${kind}`]
      : stateful
        ? kind === 'vm'
          ? [1, 'stateful: VMs keep state first-hand']
          : provider.spec.pricing.spot !== undefined
            ? [
                0.2,
                'stateful: on spot capacity a preempted node takes its volume claims with it, VMs are preferred',
              ]
            : [0.6, 'stateful: containers keep state on volume claims, VMs are preferred']
        : kind === 'k8s'
          ? [1, 'stateless: containers preferred']
          : [0.5, 'stateless: runs on a VM, containers are preferred']
  const real = provider.metadata.simulated ? ' (a simulation)' : ''
  return { name: 'fit', rating, weight: weights.fit, detail: `${detail}${real}` }
}

/** The risk of losing a replica to preemption: spot capacity at the quoted percentile, else none. */
function preemptionTerm(provider: ProviderManifest, cost: CostEstimate, weights: Weights): PlacementTerm {
  const spot = provider.spec.pricing.spot
  const weight = weights['preemption-risk']
  if (spot === undefined)
    return { name: 'preemption-risk', rating: 1, weight, detail: 'on-demand capacity: no preemption' }
  if (cost.point === null)
    return {
      name: 'preemption-risk',
      rating: 0.5,
      weight,
      detail: `spot capacity with no fresh price feed: risk unknown, taken as 0.5`,
    }
  const risk = cost.point.preemptionRisk
  return {
    name: 'preemption-risk',
    rating: round4(1 - risk),
    weight,
    detail: `spot capacity at its p${cost.point.percentile} ceiling: ${(risk * 100).toFixed(1)}% chance a replica is preempted within a day`,
  }
}

function costTerm(cost: CostEstimate, cheapest: number, count: number, weights: Weights): PlacementTerm {
  const rating = cost.monthlyUsd === 0 ? 1 : cheapest / cost.monthlyUsd
  const relative =
    cost.monthlyUsd === cheapest
      ? `the cheapest of ${count}`
      : `${(cost.monthlyUsd / Math.max(cheapest, 0.01)).toFixed(2)}× the cheapest (${formatUsd(cheapest)})`
  return {
    name: 'cost',
    rating: round4(Math.min(1, rating)),
    weight: weights.cost,
    detail: clip(`${formatUsd(cost.monthlyUsd)}/month, ${relative}: ${cost.detail}`, 500),
  }
}

interface Weighed {
  readonly view: ProviderView
  readonly candidate: PlacementCandidate
  /** Its health alone rules it out. */
  readonly transient: boolean
}

const byName = (a: Weighed, b: Weighed) =>
  a.candidate.provider < b.candidate.provider ? -1 : a.candidate.provider > b.candidate.provider ? 1 : 0
/** Eligible first by score; at an equal score a real provider before a simulation, then by name. */
const byRank = (a: Weighed, b: Weighed) => {
  if (a.candidate.eligible !== b.candidate.eligible) return a.candidate.eligible ? -1 : 1
  if (a.candidate.score !== b.candidate.score) return b.candidate.score - a.candidate.score
  const simulated = Number(a.view.manifest.metadata.simulated) - Number(b.view.manifest.metadata.simulated)
  return simulated !== 0 ? simulated : byName(a, b)
}

const firstFailure = (c: PlacementCandidate) => {
  const failed = c.filters.filter((f) => !f.passed)
  return `${failed[0]?.reason ?? ''}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}`
}

/**
 * The filters an operator's pin outranks: what placement advises (the compute kind the workload
 * prefers, the certifications and encryption it asks for), which policy also judges at admission.
 */
const advisory: ReadonlySet<string> = new Set(['preference', 'compliance', 'encryption'])

/**
 * Where a workload runs: every provider through every rule of the decision matrix, the eligible ones
 * scored (cost relative to the cheapest eligible, fit of the compute kind, preemption risk), the best
 * chosen, unless an operator pinned the environment to one that can run it. Pure and
 * deterministic: the caller reads providers, health, prices and the time.
 */
export function recommend(input: RecommendInput): Recommendation {
  const { manifest, now } = input
  const workload = describeWorkload(manifest)
  const egress = egressHint(manifest)
  const measured = input.providers.map((view) => {
    const name = view.manifest.metadata.name
    const cost = estimateCost(workload, view.manifest.spec.pricing, egress, input.prices?.get(name), now)
    const filters = applyMatrix({ manifest, workload, provider: view.manifest, state: view, cost }).map(
      (f) => ({ ...f, reason: clip(f.reason, 500) }),
    )
    return { view, cost, filters, eligible: filters.every((f) => f.passed) }
  })
  const weights = weightsFor(manifest)
  const eligibleCosts = measured.filter((m) => m.eligible).map((m) => m.cost.monthlyUsd)
  const cheapest = eligibleCosts.length === 0 ? 0 : Math.min(...eligibleCosts)
  const weighed: Weighed[] = measured.map(({ view, cost, filters, eligible }) => {
    const terms = eligible
      ? [
          costTerm(cost, cheapest, eligibleCosts.length, weights),
          fitTerm(manifest, view.manifest, weights),
          preemptionTerm(view.manifest, cost, weights),
        ]
      : []
    const score = round4(terms.reduce((sum, t) => sum + t.rating * t.weight, 0))
    const failed = filters.filter((f) => !f.passed)
    return {
      view,
      transient: failed.length === 1 && failed[0]?.name === 'healthy',
      candidate: {
        provider: view.manifest.metadata.name,
        platform: platformOf(view.manifest.spec.capabilities.compute),
        kind: view.manifest.spec.capabilities.compute,
        eligible,
        score,
        monthlyCost: cost.monthlyUsd,
        filters,
        terms,
      },
    }
  })
  weighed.sort(byRank)
  const candidates = weighed.map((w) => w.candidate)
  const app = manifest.metadata.name
  const pin = input.pin ?? null

  if (pin !== null) {
    const pinned = weighed.find((w) => w.candidate.provider === pin.provider)
    // An operator's pin outranks what placement only advises (the preference, certifications,
    // encryption: policy judges those at admission), never what the provider cannot do.
    const binding = pinned?.candidate.filters.filter((f) => !f.passed && !advisory.has(f.name)) ?? []
    if (pinned === undefined || binding.length > 0)
      return {
        ok: false,
        reason: clip(
          `${app} is pinned to ${pin.provider} (${pin.reason}), which cannot run it: ${pinned === undefined ? `no provider ${pin.provider} is known` : binding.map((f) => f.reason).join('; ')}`,
          2000,
        ),
        retryable: pinned?.transient ?? false,
        candidates,
      }
    const despite = pinned.candidate.filters.filter((f) => !f.passed)
    return chosen(
      pinned,
      `pinned by ${pin.by} (${pin.reason}); ${pinned.candidate.provider} ${
        despite.length === 0
          ? 'passes every filter'
          : `is kept despite what placement advises against (${despite.map((f) => f.reason).join('; ')}): policy decides at admission`
      }`,
      {
        reason: pin.reason,
        by: pin.by,
      },
    )
  }

  const winner = weighed[0]
  if (winner === undefined || !winner.candidate.eligible) {
    const why =
      weighed.length === 0
        ? 'no provider is registered; an operator must add one'
        : weighed.map((w) => firstFailure(w.candidate)).join('; ')
    return {
      ok: false,
      reason: clip(`No provider can run ${app}: ${why}`, 2000),
      retryable: weighed.some((w) => w.transient),
      candidates,
    }
  }
  const eligible = weighed.filter((w) => w.candidate.eligible)
  const runnerUp = eligible[1]
  const over =
    runnerUp === undefined
      ? 'the only eligible provider'
      : `scores ${winner.candidate.score.toFixed(2)} over ${runnerUp.candidate.provider}'s ${runnerUp.candidate.score.toFixed(2)}`
  const fit = winner.candidate.terms.find((t) => t.name === 'fit')?.detail ?? ''
  return chosen(winner, `${fit}; ${winner.candidate.provider} ${over}`, null)

  function chosen(w: Weighed, why: string, pinned: { reason: string; by: string } | null): Recommendation {
    const p = w.view.manifest
    const ruledOut = weighed.filter((x) => !x.candidate.eligible)
    const others =
      ruledOut.length === 0 ? '' : `; ruled out: ${ruledOut.map((x) => firstFailure(x.candidate)).join('; ')}`
    return {
      ok: true,
      provider: w.candidate.provider,
      platform: w.candidate.platform,
      kind: w.candidate.kind,
      score: w.candidate.score,
      reasoning: clip(`${why} (${formatUsd(w.candidate.monthlyCost ?? 0)}/month)${others}`, 2000),
      monthlyCost: w.candidate.monthlyCost ?? 0,
      target: {
        compliance: [...p.spec.constraints.compliance],
        regions: [...p.spec.constraints.regions],
        encryptionAtRest: p.spec.capabilities.encryptionAtRest,
      },
      pinned,
      candidates,
    }
  }
}
