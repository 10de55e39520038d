/**
 * A circuit breaker that opens after `threshold` consecutive failures, stays open for `openMs`, then
 * lets one request through (half-open): its success closes the breaker, its failure opens it again.
 * Pure: the caller reports outcomes and passes the time.
 */
export function createBreaker(options: { readonly threshold: number; readonly openMs: number }) {
  let failures = 0
  let openUntil = 0
  let trial = false
  return {
    /** Whether a request may go now (in half-open state, only one at a time). */
    allow(now: number): boolean {
      if (failures < options.threshold) return true
      if (now < openUntil || trial) return false
      trial = true
      return true
    },
    succeeded(): void {
      failures = 0
      trial = false
    },
    failed(now: number): void {
      failures++
      trial = false
      if (failures >= options.threshold) openUntil = now + options.openMs
    },
    get open(): boolean {
      return failures >= options.threshold
    },
  }
}
export type Breaker = ReturnType<typeof createBreaker>
