import { describe, expect, it } from 'vitest'
import { createSseParser } from './sse.ts'

describe('the event-stream parser', () => {
  it('dispatches events with their id, kind and data', () => {
    const parser = createSseParser()
    const events = parser.push(
      'id: 1\nevent: step.started\ndata: {"step":"place"}\n\nid: 2\nevent: end\ndata: {}\n\n',
    )
    expect(events).toEqual([
      { id: '1', event: 'step.started', data: '{"step":"place"}' },
      { id: '2', event: 'end', data: '{}' },
    ])
    expect(parser.lastEventId).toBe('2')
  })

  it('joins an event split across chunks anywhere, CRLF included', () => {
    const parser = createSseParser()
    const whole = 'id: 7\r\nevent: step.succeeded\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    const seen = []
    for (const ch of whole) seen.push(...parser.push(ch))
    expect(seen).toEqual([{ id: '7', event: 'step.succeeded', data: '{"a":\n1}' }])
  })

  it('ignores comments and events without data; names an untyped event message', () => {
    const parser = createSseParser()
    expect(parser.push(': keep-alive\n\nevent: nothing\n\ndata: x\n\n')).toEqual([
      { id: undefined, event: 'message', data: 'x' },
    ])
  })

  it('keeps the last id for an event that names none', () => {
    const parser = createSseParser()
    parser.push('id: 3\ndata: a\n\n')
    expect(parser.push('event: end\ndata: b\n\n')).toEqual([{ id: '3', event: 'end', data: 'b' }])
  })
})
