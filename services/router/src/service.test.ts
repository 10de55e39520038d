import { describe, expect, it } from 'vitest'
import { healthOf } from './service.ts'

describe("a provider's health", () => {
  const now = new Date('2026-11-23T12:00:00Z')
  const report = (checkedAt: string, healthy = true) => ({
    health: { healthy, checkedAt, message: 'answered', latencyMs: 3, intervalMs: 15_000 },
  })

  it('is unknown, so unhealthy, until an adapter reports', () => {
    expect(healthOf({ health: null }, now)).toMatchObject({ healthy: false, checkedAt: null })
  })

  it('is the last report while it is fresh', () => {
    expect(healthOf(report('2026-11-23T11:59:20Z'), now)).toEqual({
      healthy: true,
      checkedAt: '2026-11-23T11:59:20Z',
      message: 'answered',
    })
    expect(healthOf(report('2026-11-23T11:59:50Z', false), now).healthy).toBe(false)
  })

  it('is unhealthy once the adapter has been silent for three intervals', () => {
    expect(healthOf(report('2026-11-23T11:59:14Z'), now)).toMatchObject({
      healthy: false,
      message: 'no health report since 2026-11-23T11:59:14Z',
    })
  })
})
