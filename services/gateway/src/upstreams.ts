import { type ContextDeps, type HttpApp, InputError, UnavailableError } from '@rxt/kit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { type Breaker, createBreaker } from './breaker.ts'

export interface GatewayConfig {
  readonly GATEWAY_UPSTREAMS: string
}

interface Operation {
  readonly method: string
  readonly path: string
  readonly public: boolean
}

interface Upstream {
  readonly context: string
  readonly url: string
  readonly breaker: Breaker
  healthy: boolean
  operations: Operation[]
}

const forwardedRequestHeaders = ['authorization', 'content-type', 'idempotency-key', 'x-rxt-org', 'accept']
const returnedHeaders = [
  'content-type',
  'retry-after',
  'idempotent-replayed',
  'location',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]
const methods = ['get', 'post', 'put', 'patch', 'delete']
const dotSegment = /(^|\/)(\.|%2e){1,2}(\/|$)/i

/** `identity=http://a:8080,system=http://b:8080` → pairs; every mistake named at once. */
export function parseUpstreams(value: string): { context: string; url: string }[] {
  const pairs = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
  const problems: string[] = []
  const parsed = pairs.flatMap((pair) => {
    const m = /^([a-z][a-z0-9_]*)=(https?:\/\/\S+)$/.exec(pair)
    if (m === null) {
      problems.push(`"${pair}" is not context=http(s)://host:port`)
      return []
    }
    return [{ context: m[1] as string, url: (m[2] as string).replace(/\/+$/, '') }]
  })
  if (problems.length > 0) {
    throw new InputError(`GATEWAY_UPSTREAMS: ${problems.join('; ')}`)
  }
  return parsed
}

/**
 * The upstream contexts: their operations (read from each one's /openapi.json at startup), a health
 * probe of each every few seconds, and a breaker per context that fails fast after 5 consecutive errors.
 */
export async function createUpstreams(deps: ContextDeps<GatewayConfig>, probeEveryMs = 5_000) {
  const { log } = deps
  const upstreams: Upstream[] = parseUpstreams(deps.config.GATEWAY_UPSTREAMS).map((u) => ({
    ...u,
    breaker: createBreaker({ threshold: 5, openMs: 10_000 }),
    healthy: true,
    operations: [],
  }))

  for (const u of upstreams) u.operations = await operationsOf(u)

  const probe = async (u: Upstream) => {
    const healthy = await fetch(`${u.url}/readyz`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.ok)
      .catch(() => false)
    if (healthy !== u.healthy)
      log.warn({ context: u.context, url: u.url, healthy }, 'upstream health changed')
    u.healthy = healthy
  }
  const timer = setInterval(() => {
    for (const u of upstreams) void probe(u)
  }, probeEveryMs)
  timer.unref()

  const forward = async (u: Upstream, request: FastifyRequest, reply: FastifyReply) => {
    // A URL normalises . and .. away: the path sent on would not be the path that was routed.
    if (dotSegment.test(request.url.split('?')[0] ?? '')) {
      throw new InputError('the path may not contain . or .. segments', [
        { path: '/url', message: 'dot segment' },
      ])
    }
    const now = Date.now()
    if (!u.healthy || !u.breaker.allow(now)) {
      throw new UnavailableError(
        `the ${u.context} context is unavailable (${u.healthy ? 'failing' : 'not ready'}); try again shortly`,
      )
    }
    const headers: Record<string, string> = { 'x-request-id': request.id, 'x-forwarded-for': request.ip }
    for (const name of forwardedRequestHeaders) {
      const value = request.headers[name]
      if (typeof value === 'string') headers[name] = value
    }
    let response: Response
    try {
      response = await fetch(`${u.url}${request.url}`, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body as string }),
        signal: AbortSignal.timeout(30_000),
      })
    } catch (error) {
      u.breaker.failed(Date.now())
      throw new UnavailableError(`the ${u.context} context does not answer`, { cause: error })
    }
    if (response.status === 502 || response.status === 503 || response.status === 504) {
      u.breaker.failed(Date.now())
    } else {
      u.breaker.succeeded()
    }
    for (const name of returnedHeaders) {
      const value = response.headers.get(name)
      if (value !== null) reply.header(name, value)
    }
    reply.code(response.status)
    return reply.send(response.status === 204 ? null : await response.text())
  }

  return {
    register(app: HttpApp) {
      // Bodies are passed on as they came.
      app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
        done(null, body),
      )
      const seen = new Set<string>()
      for (const u of upstreams) {
        for (const op of u.operations) {
          const url = op.path.replace(/^\/v1/, '').replace(/\{(\w+)\}/g, ':$1')
          const key = `${op.method} ${url}`
          if (seen.has(key)) {
            log.warn({ context: u.context, route: key }, 'two upstreams serve one route; the first wins')
            continue
          }
          seen.add(key)
          app.route({
            method: op.method as 'GET',
            url,
            config: {
              auth: op.public
                ? { public: `routed to ${u.context}, where it is public` }
                : { authenticated: true },
            },
            schema: { summary: `Routed to the ${u.context} context`, hide: true },
            handler: (request, reply) => forward(u, request, reply),
          })
        }
      }
      log.info(
        { upstreams: upstreams.map((u) => ({ context: u.context, routes: u.operations.length })) },
        'gateway routes',
      )
    },
    stop() {
      clearInterval(timer)
    },
  }

  /** The operations an upstream serves under /v1 (not its own /v1/admin routes), from its OpenAPI document. */
  async function operationsOf(u: Upstream): Promise<Operation[]> {
    let doc: { paths?: Record<string, Record<string, { security?: unknown[]; tags?: string[] }>> }
    try {
      const response = await fetch(`${u.url}/openapi.json`, { signal: AbortSignal.timeout(5_000) })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      doc = (await response.json()) as typeof doc
    } catch (error) {
      throw new UnavailableError(
        `the ${u.context} context at ${u.url} does not serve its OpenAPI document: ${(error as Error).message}`,
        { cause: error },
      )
    }
    return Object.entries(doc.paths ?? {}).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(
          ([method, op]) =>
            methods.includes(method) &&
            path.startsWith('/v1/') &&
            !path.startsWith('/v1/admin/') &&
            (op.tags ?? []).includes(u.context),
        )
        .map(([method, op]) => ({
          method: method.toUpperCase(),
          path,
          public: Array.isArray(op.security) && op.security.length === 0,
        })),
    )
  }
}
