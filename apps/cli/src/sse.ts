// Server-Sent Events read by eventsource-parser (the WHATWG rules: line ends, comments, multi-line data,
// a leading byte order mark), fed chunk by chunk; each message carries the last id seen so far, the
// stream's Last-Event-ID when it is opened again.
import { createParser } from 'eventsource-parser'

export interface SseMessage {
  /** The last id seen (the stream's Last-Event-ID so far), or undefined before any. */
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/** A parser: feed it text as it arrives, it answers the messages completed so far. */
export function createSseParser(): { feed(chunk: string): SseMessage[] } {
  let lastId: string | undefined
  let out: SseMessage[] = []
  let start = true
  const parser = createParser({
    onEvent(message) {
      if (message.id !== undefined) lastId = message.id
      out.push({ id: lastId, event: message.event ?? 'message', data: message.data })
    },
  })
  return {
    feed(chunk) {
      let text = chunk
      if (start && text !== '') {
        start = false
        if (text.startsWith('\uFEFF')) text = text.slice(1)
      }
      parser.feed(text)
      const done = out
      out = []
      return done
    },
  }
}
