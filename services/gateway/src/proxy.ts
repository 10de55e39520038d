import type { IncomingMessage } from 'node:http'
import replyFrom from '@fastify/reply-from'
import { type HttpApp, InputError, NotFoundError, UnavailableError } from '@rxt/kit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { endToEnd, forwardedRequestHeaders } from './headers.ts'
import { httpMethods } from './openapi.ts'
import type { Upstream, Upstreams } from './upstreams.ts'

const dotSegment = /(^|\/)(\.|%2e){1,2}(\/|$)/i
/** How long an upstream may take to send its headers, and to send more of its body. */
const upstreamTimeoutMs = 30_000

/** A request body read whole (up to `limit` bytes), for the few requests the edge must see entire. */
const readWhole = (stream: IncomingMessage, limit: number) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        stream.destroy()
        reject(Object.assign(new Error('the request body is too large'), { statusCode: 413 }))
        return
      }
      chunks.push(chunk)
    })
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })

/**
 * Forwards every request the routing table knows to the upstream that serves it, with
 * @fastify/reply-from: every end-to-end header both ways (hop-by-hop ones dropped, X-Forwarded-For,
 * -Proto and -Host set), bodies streamed both ways as they come.
 *
 * Two catch-all routes serve the table, told apart by a route constraint that looks the request up:
 * one for operations public at their context, one for the rest, which the kit's guard authenticates as
 * any route of this process. The constraint is derived only for requests the table routes, so every
 * other request finds the process's own routes (/healthz, /readyz, /metrics, /openapi.json, /docs, its
 * bus admin) as usual, and a path nobody serves is 404.
 */
export async function registerProxy(app: HttpApp, upstreams: Upstreams): Promise<void> {
  await app.register(replyFrom, {
    undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
    // The kit logs every request once; the breaker, not a retry, handles a failing upstream.
    disableRequestLogging: true,
    retryMethods: [],
    destroyAgent: true,
  })

  // Bodies go on as they come, streamed. The edge reads whole only what it must fingerprint: a mutating
  // request with an Idempotency-Key (kept by this process, which answers its replays).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request, payload, done) => {
    if (request.headers['idempotency-key'] === undefined || request.method === 'GET') {
      done(null, payload)
      return
    }
    readWhole(payload, app.initialConfig.bodyLimit ?? 1_048_576).then(
      (body) => done(null, body),
      (error: Error) => done(error, undefined),
    )
  })

  app.addConstraintStrategy({
    name: 'gatewayRoute',
    // A request the table routes matches only the gateway's routes; any other matches none of them.
    mustMatchWhenDerived: true,
    storage() {
      const handlers = new Map<string, unknown>()
      return {
        get: (kind: string) => (handlers.get(kind) ?? null) as never,
        set: (kind: string, handler: unknown) => {
          handlers.set(kind, handler)
        },
      }
    },
    deriveConstraint: (req: IncomingMessage) => {
      const route = upstreams.routeOf(req)
      return route === null ? (undefined as unknown as string) : route.public ? 'public' : 'guarded'
    },
  })

  const forward = (upstream: Upstream, request: FastifyRequest, reply: FastifyReply) => {
    // A URL normalises . and .. away: the path sent on would not be the path that was routed.
    if (dotSegment.test(request.url.split('?')[0] ?? '')) {
      throw new InputError('the path may not contain . or .. segments', [
        { path: '/url', message: 'dot segment' },
      ])
    }
    upstreams.admit(upstream)
    const from = {
      peer: request.socket.remoteAddress,
      protocol: request.protocol,
      host: request.host,
      requestId: request.id,
    }
    return reply.from(`${upstream.url}${request.url}`, {
      timeout: upstreamTimeoutMs,
      // A body read whole goes on as the bytes it came as, under its own content type.
      ...(Buffer.isBuffer(request.body)
        ? { body: request.body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
        : {}),
      rewriteRequestHeaders: (_request, headers) => forwardedRequestHeaders(headers, from),
      rewriteHeaders: (headers) => endToEnd(headers),
      onResponse: (_request, reply, response) => {
        const status = response.statusCode
        if (status === 502 || status === 503 || status === 504) upstream.breaker.failed(Date.now())
        else upstream.breaker.succeeded()
        // A response the edge keeps for Idempotency-Key replays is read whole; any other streams.
        if (request.idempotency === undefined) {
          reply.send(response.stream)
          return
        }
        const chunks: Buffer[] = []
        response.stream.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.stream.on('error', (error: Error) => reply.send(error))
        response.stream.on('end', () => reply.send(Buffer.concat(chunks).toString('utf8')))
      },
      onError: (reply, { error }) => {
        upstream.breaker.failed(Date.now())
        reply.send(new UnavailableError(`the ${upstream.context} context does not answer`, { cause: error }))
      },
    })
  }

  for (const kind of ['public', 'guarded'] as const) {
    app.route({
      method: httpMethods.map((m) => m.toUpperCase()) as 'GET'[],
      url: '/*',
      constraints: { gatewayRoute: kind },
      config: {
        // The context that serves the operation records it in the audit trail, not the gateway too.
        forwarded: true,
        auth:
          kind === 'public'
            ? { public: 'routed to a context where the operation is public' }
            : { authenticated: true },
      },
      schema: { summary: 'Routed to the context that serves the operation', hide: true },
      handler: (request, reply) => {
        const route = upstreams.routeOf(request.raw)
        if (route === null) throw new UnavailableError('the route table changed under this request; retry')
        if (route.upstream === undefined)
          throw new NotFoundError(`no context ${route.context} is routed by this gateway`)
        return forward(route.upstream, request, reply)
      },
    })
  }
}
