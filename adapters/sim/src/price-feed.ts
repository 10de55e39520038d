import type { ProviderPrices } from '@rxt/contracts'
import type { ProviderManifest } from '@rxt/platform-sdk'

/** How often the simulated spot price feed quotes (evt.provider.prices). */
export const simPriceIntervalMs = 60_000

/**
 * The simulated spot price curve: at each percentile of recent prices, a share of the list price and
 * the chance a replica bid there is preempted within a day. Made up, fixed, and labelled simulated.
 */
export const simulatedCurve = [
  { percentile: 50, share: 0.35, preemptionRisk: 0.3 },
  { percentile: 75, share: 0.45, preemptionRisk: 0.15 },
  { percentile: 90, share: 0.6, preemptionRisk: 0.06 },
  { percentile: 95, share: 0.7, preemptionRisk: 0.03 },
  { percentile: 99, share: 0.85, preemptionRisk: 0.01 },
] as const

const price = (usd: number) => Math.round(usd * 1e6) / 1e6

/**
 * A simulated spot provider's quote: deterministic (the list prices times the curve), so that
 * placement's estimates of a simulation can be checked by hand. Undefined for a provider with no
 * `pricing.spot`.
 */
export function simulatedQuote(provider: ProviderManifest, at: Date): ProviderPrices | undefined {
  const { pricing } = provider.spec
  if (pricing.spot === undefined) return undefined
  return {
    provider: provider.metadata.name,
    currency: 'USD',
    points: simulatedCurve.map((p) => ({
      percentile: p.percentile,
      vcpuHour: price(pricing.vcpuHour * p.share),
      memoryGiBHour: price(pricing.memoryGiBHour * p.share),
      preemptionRisk: p.preemptionRisk,
    })),
    simulated: true,
    quotedAt: at.toISOString(),
    intervalMs: simPriceIntervalMs,
  }
}
