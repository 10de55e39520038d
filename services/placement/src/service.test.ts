import { describe, expect, it } from 'vitest'
import { healthOf } from './service.ts'

const report = {
  healthy: true,
  checkedAt: '2026-01-01T00:00:00Z',
  message: 'ok',
  latencyMs: 1,
  intervalMs: 15_000,
}

describe("a provider's health as placement reads it", () => {
  it('is its last report while at most three intervals old', () => {
    expect(healthOf(report, new Date('2026-01-01T00:00:45Z'))).toMatchObject({ healthy: true, message: 'ok' })
  })
  it('is unhealthy once the report is older than three intervals, or when none came', () => {
    expect(healthOf(report, new Date('2026-01-01T00:00:45.001Z'))).toMatchObject({
      healthy: false,
      message: 'no health report since 2026-01-01T00:00:00Z',
    })
    expect(healthOf(null, new Date())).toMatchObject({ healthy: false, checkedAt: null })
  })
})
