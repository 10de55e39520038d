import { describe, expect, it } from 'vitest'
import { createBreaker } from './breaker.ts'

describe('the circuit breaker', () => {
  it('opens after 5 consecutive failures, fails fast while open, and closes after a good trial', () => {
    const b = createBreaker({ threshold: 5, openMs: 1000 })
    for (let i = 0; i < 4; i++) b.failed(0)
    b.succeeded()
    for (let i = 0; i < 4; i++) b.failed(0)
    expect(b.allow(0)).toBe(true) // 4 in a row after a success: still closed
    b.failed(0)
    expect(b.open).toBe(true)
    expect(b.allow(500)).toBe(false)
    expect(b.allow(1000)).toBe(true) // the one trial
    expect(b.allow(1000)).toBe(false) // no second request while it runs
    b.failed(1000)
    expect(b.allow(1500)).toBe(false)
    expect(b.allow(2000)).toBe(true)
    b.succeeded()
    expect(b.open).toBe(false)
    expect(b.allow(2000)).toBe(true)
  })
})
