import { describe, expect, it } from 'vitest'
import { backoffDelay } from './backoff.ts'

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 5_000 }

  it('doubles the cap with every delivery and never passes the maximum', () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffDelay(policy, n, () => 1))).toEqual([100, 200, 400, 800, 5_000])
  })

  it('jitters between half the cap and the cap', () => {
    expect(backoffDelay(policy, 3, () => 0)).toBe(200)
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(300)
    const delays = Array.from({ length: 200 }, () => backoffDelay(policy, 3))
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(200)
    expect(Math.max(...delays)).toBeLessThanOrEqual(400)
    expect(new Set(delays).size).toBeGreaterThan(10)
  })
})
