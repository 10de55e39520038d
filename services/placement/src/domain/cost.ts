import type { SpotPricePoint } from '@rxt/contracts'
import type { DeployManifest } from '@rxt/contracts/manifest'
import { formatUsd, hoursPerMonth, mibToGiB, type ProviderManifest, type Workload } from '@rxt/platform-sdk'

/** The label of deploy.yaml's metadata that hints at the GiB a month the workload sends out. */
export const egressHintLabel = 'rxt.dev/egress-gib-month'

/** A spot price feed's latest quote for a provider, as placement keeps it. */
export interface PriceQuote {
  readonly points: readonly SpotPricePoint[]
  readonly simulated: boolean
  readonly quotedAt: string
  readonly intervalMs: number
}

/** One provider's monthly cost for one workload, with how it was reached. */
export interface CostEstimate {
  /** US dollars a month, rounded to cents. */
  readonly monthlyUsd: number
  /** `spot`: the feed's price at the provider's ceiling percentile; `list`: the price sheet. */
  readonly basis: 'list' | 'spot'
  /** The spot point used (its preemption risk), when the basis is spot. */
  readonly point: SpotPricePoint | null
  /** Why spot pricing is not used for a spot provider (no feed yet, a stale one), else null. */
  readonly spotGap: string | null
  readonly egressGiB: number
  /** For people: the formula with the numbers in it. */
  readonly detail: string
}

/** GiB a month the manifest says the workload sends out (its metadata label), or null without a hint. */
export function egressHint(manifest: DeployManifest): number | null {
  const text = manifest.metadata.labels?.[egressHintLabel]
  if (text === undefined || !/^[0-9]+(\.[0-9]+)?$/.test(text)) return null
  return Number(text)
}

/**
 * The point of a feed at a provider's ceiling percentile: that percentile exactly, else the nearest
 * above it (never a cheaper, riskier one than the guardrail allows), else the highest quoted.
 */
export function pointAt(points: readonly SpotPricePoint[], ceiling: number): SpotPricePoint | undefined {
  const sorted = [...points].sort((a, b) => a.percentile - b.percentile)
  return sorted.find((p) => p.percentile >= ceiling) ?? sorted.at(-1)
}

/** Whether a quote is still news: at most three of its intervals old. */
export const quoteFresh = (quote: PriceQuote, now: Date) =>
  now.getTime() - Date.parse(quote.quotedAt) <= 3 * quote.intervalMs

const round = (usd: number) => Math.round(usd * 100) / 100

/**
 * The estimated monthly cost in US dollars: 730 h × replicas × (vCPUs × vcpuHour + memory GiB ×
 * memoryGiBHour) + volume GiB × storageGiBMonth + egress GiB × egressGiB. For a provider with spot
 * capacity and a fresh quote, vcpuHour and memoryGiBHour are the feed's at the ceiling percentile of
 * its provider.yaml (`pricing.spot.percentile`); otherwise the list prices, and the detail says so.
 * Pure: the quote and the time are given.
 */
export function estimateCost(
  workload: Workload,
  pricing: ProviderManifest['spec']['pricing'],
  egressGiB: number | null,
  quote: PriceQuote | undefined,
  now: Date,
): CostEstimate {
  const spot = pricing.spot
  const fresh = quote !== undefined && quoteFresh(quote, now)
  const point = spot !== undefined && fresh ? pointAt(quote.points, spot.percentile) : undefined
  const spotGap =
    spot === undefined || point !== undefined
      ? null
      : quote === undefined
        ? `no spot price feed has arrived yet: list prices used`
        : `the spot price feed's last quote (${quote.quotedAt}) is stale: list prices used`
  const vcpuHour = point?.vcpuHour ?? pricing.vcpuHour
  const memoryGiBHour = point?.memoryGiBHour ?? pricing.memoryGiBHour
  const memoryGiB = mibToGiB(workload.memoryMiB)
  const compute = hoursPerMonth * workload.replicas * (workload.cpu * vcpuHour + memoryGiB * memoryGiBHour)
  const storage = workload.volumeGiB * pricing.storageGiBMonth
  const egress = (egressGiB ?? 0) * pricing.egressGiB
  const basis = point === undefined ? 'list' : `spot p${point.percentile}`
  const egressText =
    egressGiB === null
      ? 'egress 0 (no rxt.dev/egress-gib-month hint)'
      : `${egressGiB} GiB egress × $${pricing.egressGiB}`
  const detail =
    `${hoursPerMonth} h × ${workload.replicas} × (${workload.cpu} vCPU × $${vcpuHour} + ${memoryGiB} GiB × $${memoryGiBHour}) (${basis})` +
    ` + ${workload.volumeGiB} GiB × $${pricing.storageGiBMonth} + ${egressText} = ${formatUsd(round(compute + storage + egress))}` +
    (spotGap === null ? '' : `; ${spotGap}`)
  return {
    monthlyUsd: round(compute + storage + egress),
    basis: point === undefined ? 'list' : 'spot',
    point: point ?? null,
    spotGap,
    egressGiB: egressGiB ?? 0,
    detail,
  }
}
