import type { IncomingMessage } from 'node:http'
import { type ContextDeps, type HttpApp, InputError, UnavailableError } from '@rxt/kit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import FindMyWay from 'find-my-way'
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

/** Which upstream serves a request, and whether the operation is public there. */
interface Route {
  readonly upstream: Upstream
  readonly public: boolean
}

/**
 * The upstream contexts: their operations, read from each one's /openapi.json and read again while
 * the gateway runs (so that a context deployed with new routes is routed without restarting the
 * gateway), a health probe of each every few seconds, and a breaker per context that fails fast after
 * 5 consecutive errors.
 */
export async function createUpstreams(
  deps: ContextDeps<GatewayConfig>,
  options: { probeEveryMs?: number; refreshEveryMs?: number } = {},
) {
  const { log } = deps
  const probeEveryMs = options.probeEveryMs ?? 5_000
  const refreshEveryMs = options.refreshEveryMs ?? 30_000
  const upstreams: Upstream[] = parseUpstreams(deps.config.GATEWAY_UPSTREAMS).map((u) => ({
    ...u,
    breaker: createBreaker({ threshold: 5, openMs: 10_000 }),
    healthy: true,
    operations: [],
  }))

  /** The routing table, rebuilt whole from the upstreams' operations and swapped in one assignment. */
  let table = FindMyWay<FindMyWay.HTTPVersion.V1>()
  let signature = ''
  const rebuild = () => {
    const next = FindMyWay<FindMyWay.HTTPVersion.V1>()
    const lines: string[] = []
    for (const u of upstreams) {
      for (const op of u.operations) {
        const url = op.path.replace(/\{(\w+)\}/g, ':$1')
        if (next.find(op.method as 'GET', url) !== null) {
          log.warn(
            { context: u.context, route: `${op.method} ${url}` },
            'two upstreams serve one route; the first wins',
          )
          continue
        }
        const route: Route = { upstream: u, public: op.public }
        next.on(op.method as 'GET', url, () => undefined, route)
        lines.push(`${u.context} ${op.method} ${url} ${op.public}`)
      }
    }
    const changed = lines.join('\n')
    if (changed === signature) return
    signature = changed
    table = next
    log.info(
      { upstreams: upstreams.map((u) => ({ context: u.context, routes: u.operations.length })) },
      'gateway routes',
    )
  }
  /** Reads an upstream's operations; keeps the ones it had when its document cannot be read. */
  const refresh = async (u: Upstream): Promise<boolean> => {
    try {
      u.operations = await operationsOf(u)
      return true
    } catch (error) {
      log.warn(
        { context: u.context, url: u.url, err: { message: (error as Error).message } },
        'upstream routes not read',
      )
      return false
    }
  }
  // An upstream that is not up yet does not hold the gateway back: it is routed once a probe finds it.
  await Promise.all(
    upstreams.map(async (u) => {
      u.healthy = await refresh(u)
    }),
  )
  rebuild()

  const probe = async (u: Upstream) => {
    const healthy = await fetch(`${u.url}/readyz`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.ok)
      .catch(() => false)
    if (healthy !== u.healthy) {
      log.warn({ context: u.context, url: u.url, healthy }, 'upstream health changed')
      // Back from a restart, perhaps with another version: read its routes now.
      if (healthy) {
        await refresh(u)
        rebuild()
      }
    }
    u.healthy = healthy
  }
  const probing = setInterval(() => {
    for (const u of upstreams) void probe(u)
  }, probeEveryMs)
  probing.unref()
  const refreshing = setInterval(() => {
    void Promise.all(upstreams.filter((u) => u.healthy).map(refresh)).then(rebuild)
  }, refreshEveryMs)
  refreshing.unref()

  /** The route of a request, looked up once (the constraint and the handler both ask). */
  const routes = new WeakMap<object, Route | null>()
  const routeOf = (req: { method?: string; url?: string }): Route | null => {
    let route = routes.get(req)
    if (route === undefined) {
      const found = table.find((req.method ?? 'GET') as 'GET', (req.url ?? '/').split('?')[0] as string)
      route = (found?.store as Route | undefined) ?? null
      routes.set(req, route)
    }
    return route
  }

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
    /**
     * Two catch-all routes, told apart by a route constraint that looks the request up in the table:
     * one for operations public at their context, one for the rest, which the kit's guard authenticates
     * as any route of this process. A request the table does not know matches neither: 404.
     */
    register(app: HttpApp) {
      // Bodies are passed on as they came.
      app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
        done(null, body),
      )
      app.addConstraintStrategy({
        name: 'gatewayRoute',
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
          const route = routeOf(req)
          return route === null ? 'none' : route.public ? 'public' : 'guarded'
        },
      })
      for (const kind of ['public', 'guarded'] as const) {
        app.route({
          method: methods.map((m) => m.toUpperCase()) as 'GET'[],
          url: '/*',
          constraints: { gatewayRoute: kind },
          config: {
            auth:
              kind === 'public'
                ? { public: 'routed to a context where the operation is public' }
                : { authenticated: true },
          },
          schema: { summary: 'Routed to the context that serves the operation', hide: true },
          handler: (request, reply) => {
            const route = routeOf(request.raw)
            if (route === null)
              throw new UnavailableError('the route table changed under this request; retry')
            return forward(route.upstream, request, reply)
          },
        })
      }
    },
    stop() {
      clearInterval(probing)
      clearInterval(refreshing)
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
