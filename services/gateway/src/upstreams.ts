import { type ContextDeps, InputError, UnavailableError } from '@rxt/kit'
import FindMyWay from 'find-my-way'
import { type Breaker, createBreaker } from './breaker.ts'
import { contextHeader, type OpenApiDocument, type Operation, operationsOf } from './openapi.ts'

export interface GatewayConfig {
  readonly GATEWAY_UPSTREAMS: string
}

/** One context behind the gateway: where it runs, whether it answers, and what it serves. */
export interface Upstream {
  readonly context: string
  readonly url: string
  readonly breaker: Breaker
  /** Its /readyz answered 200 at the last probe. */
  healthy: boolean
  /** Its OpenAPI document as last read (undefined until it is). */
  document: OpenApiDocument | undefined
  operations: readonly Operation[]
}

/** Which upstream serves a request, and whether the operation is public there. */
export interface Route {
  /** Undefined: the request names a context (X-RXT-Context) that no upstream runs. */
  readonly upstream: Upstream | undefined
  readonly context: string
  readonly public: boolean
}

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

type Table = FindMyWay.Instance<FindMyWay.HTTPVersion.V1>
const pathOf = (url: string | undefined) => (url ?? '/').split('?')[0] as string
const templateOf = (path: string) => path.replace(/\{(\w+)\}/g, ':$1')

/**
 * The upstream contexts: their operations, read from each one's /openapi.json and read again while
 * the gateway runs (so that a context deployed with new routes is routed without restarting the
 * gateway), a health probe of each every few seconds, a breaker per context that fails fast after
 * 5 consecutive errors, and the routing table built from them.
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
    document: undefined,
    operations: [],
  }))
  const byContext = new Map(upstreams.map((u) => [u.context, u]))
  const changed = new Set<() => void>()

  /**
   * The routing tables, rebuilt whole from the upstreams' operations and swapped in one assignment:
   * the contexts' operations, and the per-process ones (any process serves them, for its contexts).
   */
  let table: Table = FindMyWay()
  let perProcess: Table = FindMyWay()
  let signature = ''
  const rebuild = () => {
    const next: Table = FindMyWay()
    const nextPerProcess: Table = FindMyWay()
    const lines: string[] = []
    for (const u of upstreams) {
      for (const op of u.operations) {
        const url = templateOf(op.path)
        const method = op.method as 'GET'
        if (op.perProcess) {
          if (nextPerProcess.find(method, url) === null)
            nextPerProcess.on(method, url, () => undefined, { public: op.public })
          continue
        }
        if (next.find(method, url) !== null) {
          log.warn(
            { context: u.context, route: `${op.method} ${url}` },
            'two upstreams serve one route; the first wins',
          )
          continue
        }
        const route: Route = { upstream: u, context: u.context, public: op.public }
        next.on(method, url, () => undefined, route)
        lines.push(`${u.context} ${op.method} ${url} ${op.public}`)
      }
      for (const op of u.operations.filter((o) => o.perProcess)) lines.push(`* ${op.method} ${op.path}`)
    }
    const now = lines.join('\n')
    if (now === signature) return
    signature = now
    table = next
    perProcess = nextPerProcess
    log.info(
      { upstreams: upstreams.map((u) => ({ context: u.context, routes: u.operations.length })) },
      'gateway routes',
    )
    for (const listener of changed) listener()
  }

  /** Reads an upstream's operations; keeps the ones it had when its document cannot be read. */
  const refresh = async (u: Upstream): Promise<boolean> => {
    try {
      const response = await fetch(`${u.url}/openapi.json`, { signal: AbortSignal.timeout(5_000) })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      const document = (await response.json()) as OpenApiDocument
      u.document = document
      u.operations = operationsOf(document, u.context)
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
      .then(async (r) => {
        await r.body?.cancel()
        return r.ok
      })
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

  /** The route of a request, looked up once (the router's constraint and the handler both ask). */
  const routes = new WeakMap<object, Route | null>()
  const lookUp = (req: { method?: string; url?: string; headers: Record<string, unknown> }): Route | null => {
    const method = (req.method ?? 'GET') as 'GET'
    const path = pathOf(req.url)
    // A per-process operation naming a context goes to that context's process (or is answered 404 by
    // the handler when no upstream runs it); without the header the gateway's own process answers.
    const named = req.headers[contextHeader]
    if (typeof named === 'string' && named !== '') {
      const own = perProcess.find(method, path)
      if (own !== null)
        return { upstream: byContext.get(named), context: named, public: (own.store as Route).public }
    }
    const found = table.find(method, path)
    return (found?.store as Route | undefined) ?? null
  }

  return {
    list: upstreams as readonly Upstream[],
    routeOf(req: { method?: string; url?: string; headers: Record<string, unknown> }): Route | null {
      let route = routes.get(req)
      if (route === undefined) {
        route = lookUp(req)
        routes.set(req, route)
      }
      return route
    },
    /** Calls `listener` whenever the routing tables change (a document read anew, a context back). */
    onChange(listener: () => void): () => void {
      changed.add(listener)
      return () => changed.delete(listener)
    },
    /** Throws UnavailableError unless a request may go to `u` now (ready, and its breaker closed). */
    admit(u: Upstream): void {
      if (!u.healthy || !u.breaker.allow(Date.now())) {
        throw new UnavailableError(
          `the ${u.context} context is unavailable (${u.healthy ? 'failing' : 'not ready'}); try again shortly`,
        )
      }
    },
    stop() {
      clearInterval(probing)
      clearInterval(refreshing)
      changed.clear()
    },
  }
}

export type Upstreams = Awaited<ReturnType<typeof createUpstreams>>
