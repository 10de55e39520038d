import { describe, expect, it } from 'vitest'
import { createSseParser } from './sse.ts'

describe('the Server-Sent Events parser', () => {
  const stream =
    'id: 1\nevent: started\ndata: {"seq":1}\n\n: a comment\nid: 2\nevent: step-started\ndata: {"seq":2,\ndata: "step":"place"}\n\nevent: end\ndata: {"status":"ready"}\n\n'

  it('reads id, event and multi-line data, skipping comments; the last id carries over', () => {
    expect(createSseParser().feed(stream)).toEqual([
      { id: '1', event: 'started', data: '{"seq":1}' },
      { id: '2', event: 'step-started', data: '{"seq":2,\n"step":"place"}' },
      { id: '2', event: 'end', data: '{"status":"ready"}' },
    ])
  })

  it('gives the same messages however the text is cut into chunks', () => {
    const whole = createSseParser().feed(stream)
    for (const size of [1, 2, 3, 7, 13]) {
      const parser = createSseParser()
      const messages = []
      for (let i = 0; i < stream.length; i += size) messages.push(...parser.feed(stream.slice(i, i + size)))
      expect(messages, `chunks of ${size}`).toEqual(whole)
    }
  })

  it('reads CRLF and CR line ends, a CRLF cut between chunks included', () => {
    const parser = createSseParser()
    expect(parser.feed('id: 7\r\nevent: x\r')).toEqual([])
    expect(parser.feed('\ndata: a\r\n\r\ndata: b\r\r\n')).toEqual([
      { id: '7', event: 'x', data: 'a' },
      { id: '7', event: 'message', data: 'b' },
    ])
  })

  it('sends nothing for an event without data, and keeps an unfinished message for the next chunk', () => {
    const parser = createSseParser()
    expect(parser.feed('event: lone\n\ndata: half')).toEqual([])
    expect(parser.feed('\n\n')).toEqual([{ id: undefined, event: 'message', data: 'half' }])
  })

  it('skips a byte order mark at the start of the stream', () => {
    const parser = createSseParser()
    expect(parser.feed('\uFEFF')).toEqual([])
    expect(parser.feed('id: 1\nevent: started\ndata: {}\n\n')).toEqual([
      { id: '1', event: 'started', data: '{}' },
    ])
  })
})
