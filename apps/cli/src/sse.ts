// Server-Sent Events as the WHATWG spec reads them (the subset the API sends: id, event, data, comments),
// fed chunk by chunk: a message ends at a blank line, whatever the chunks' boundaries.

export interface SseMessage {
  /** The last id seen (the stream's Last-Event-ID so far), or undefined before any. */
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/** A parser: feed it text as it arrives, it answers the messages completed so far. */
export function createSseParser(): { feed(chunk: string): SseMessage[] } {
  let buffer = ''
  let lastId: string | undefined
  let event = ''
  let data: string[] = []
  return {
    feed(chunk) {
      buffer += chunk
      const out: SseMessage[] = []
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/)
        if (end === -1) break
        // A lone \r at the end of a chunk may be the first half of \r\n: wait for the next.
        if (buffer[end] === '\r' && end === buffer.length - 1) break
        const line = buffer.slice(0, end)
        buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1))
        if (line === '') {
          if (data.length > 0)
            out.push({ id: lastId, event: event === '' ? 'message' : event, data: data.join('\n') })
          event = ''
          data = []
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        let value = colon === -1 ? '' : line.slice(colon + 1)
        if (value.startsWith(' ')) value = value.slice(1)
        if (field === 'data') data.push(value)
        else if (field === 'event') event = value
        else if (field === 'id' && !value.includes('\0')) lastId = value
      }
      return out
    },
  }
}
