// The keepalive of a deployment's event stream: a comment at every interval while the stream is open,
// none once it is closed (the clock is vitest's, not a wait).
import { afterEach, describe, expect, it, vi } from 'vitest'
import { keepaliveComment, keepaliveIntervalMs, startKeepalive } from '../src/keepalive.ts'

describe("the event stream's keepalive", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('writes an SSE comment every 15 s until stopped', () => {
    vi.useFakeTimers()
    const written: string[] = []
    const stop = startKeepalive((text) => written.push(text))
    expect(keepaliveIntervalMs).toBe(15_000)
    vi.advanceTimersByTime(keepaliveIntervalMs - 1)
    expect(written).toEqual([])
    vi.advanceTimersByTime(1)
    expect(written).toEqual([': keepalive\n\n'])
    vi.advanceTimersByTime(keepaliveIntervalMs * 2)
    expect(written).toEqual([keepaliveComment, keepaliveComment, keepaliveComment])
    stop()
    vi.advanceTimersByTime(keepaliveIntervalMs * 4)
    expect(written).toHaveLength(3)
  })

  it('is a comment: a line that starts with a colon, then a blank line', () => {
    expect(keepaliveComment).toMatch(/^:[^\n]*\n\n$/)
  })
})
