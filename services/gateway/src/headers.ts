import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, and those RFC 2616 §13.5.1 named): they describe one connection,
 * not the message, so a proxy never passes them on. The names a Connection header lists are too.
 */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

type Headers = IncomingHttpHeaders | OutgoingHttpHeaders

/** The names a message's Connection header lists (lower-case). */
const listedInConnection = (headers: Headers): Set<string> => {
  const value = headers.connection
  const list = Array.isArray(value) ? value.join(',') : typeof value === 'string' ? value : ''
  return new Set(
    list
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
  )
}

/** Every end-to-end header of a message: the hop-by-hop ones, and those its Connection lists, dropped. */
export function endToEnd<H extends Headers>(headers: H): H {
  const listed = listedInConnection(headers)
  const kept: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value === undefined || hopByHop.has(lower) || listed.has(lower)) continue
    kept[lower] = value
  }
  return kept as H
}

/** What the gateway knows of the request it forwards: who sent it, how, to which host, under which id. */
export interface ForwardedFrom {
  /** The address of the peer of this connection (the client, or a proxy in front of the gateway). */
  readonly peer: string | undefined
  /** http or https, as the client used it. */
  readonly protocol: string
  /** The Host the client asked for. */
  readonly host: string
  /** The correlation id of the request (X-Request-Id), the same end to end. */
  readonly requestId: string
}

/**
 * The headers a request is sent on with: every end-to-end header as the client sent it, the peer's
 * address appended to X-Forwarded-For (so that an upstream trusting the gateway, and only the gateway,
 * finds the client), X-Forwarded-Proto and X-Forwarded-Host as the client used them, and the request id.
 * `host` is left to the proxy, which names the upstream.
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  from: ForwardedFrom,
): IncomingHttpHeaders {
  const out = endToEnd(headers)
  delete out.host
  const before = out['x-forwarded-for']
  const chain = [
    ...(Array.isArray(before) ? before : typeof before === 'string' ? [before] : []),
    ...(from.peer === undefined ? [] : [from.peer]),
  ]
  if (chain.length > 0) out['x-forwarded-for'] = chain.join(', ')
  out['x-forwarded-proto'] = from.protocol
  out['x-forwarded-host'] = from.host
  out['x-request-id'] = from.requestId
  return out
}
