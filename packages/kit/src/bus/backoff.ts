export interface BackoffPolicy {
  /** Delay before the first redelivery. */
  readonly baseMs: number
  /** No delay is longer than this. */
  readonly maxMs: number
}

/**
 * Exponential backoff with full jitter: after the `deliveryCount`-th failed delivery, a delay drawn
 * uniformly from [cap/2, cap] where cap = min(maxMs, baseMs × 2^(deliveryCount−1)). Half the cap is kept
 * so that a retry storm still spreads out but never comes back at once.
 */
export function backoffDelay(
  policy: BackoffPolicy,
  deliveryCount: number,
  random: () => number = Math.random,
) {
  const exponent = Math.min(Math.max(deliveryCount - 1, 0), 30)
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent)
  return Math.round(cap / 2 + random() * (cap / 2))
}
