/** One Server-Sent Event (WHATWG HTML, "event stream interpretation"). */
export interface SseEvent {
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/**
 * An incremental parser of a text/event-stream: feed it chunks as they arrive (split anywhere, even
 * inside a line or a CRLF), get the complete events back. Comments and unknown fields are ignored; an
 * event with no data is not dispatched; `lastEventId` is what to resume from (Last-Event-ID).
 */
export function createSseParser(): {
  push(chunk: string): SseEvent[]
  readonly lastEventId: string | undefined
} {
  let buffer = ''
  let data: string[] = []
  let event = ''
  let id: string | undefined
  let lastEventId: string | undefined
  let pendingCr = false
  const line = (text: string, out: SseEvent[]) => {
    if (text === '') {
      if (data.length > 0)
        out.push({ id: lastEventId, event: event === '' ? 'message' : event, data: data.join('\n') })
      data = []
      event = ''
      return
    }
    if (text.startsWith(':')) return
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? '' : text.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') event = value
    else if (field === 'id' && !value.includes('\0')) {
      id = value
      lastEventId = id
    }
  }
  return {
    push(chunk) {
      const out: SseEvent[] = []
      let text = chunk
      // A CR ending the previous chunk already ended its line: a LF starting this one is its pair.
      if (pendingCr && text.startsWith('\n')) text = text.slice(1)
      pendingCr = false
      buffer += text
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer)
        if (match === null) break
        if (match[0] === '\r' && match.index === buffer.length - 1) pendingCr = true
        line(buffer.slice(0, match.index), out)
        buffer = buffer.slice(match.index + match[0].length)
      }
      return out
    },
    get lastEventId() {
      return lastEventId
    },
  }
}
