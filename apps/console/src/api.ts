import { ApiError, toApiError } from './problem.ts'
import { createSseParser, type SseEvent } from './sse.ts'

/**
 * The console's only way to the API: JSON over fetch, problem+json turned into ApiError. The access
 * token lives in memory only; the refresh token in sessionStorage (this tab, until it closes); a 401 is
 * answered by one refresh (shared by the calls that met it) and the call is tried once more.
 */

const refreshKey = 'rxt.refresh'
const orgKey = 'rxt.org'

let base = ''
let accessToken: string | undefined
let refreshing: Promise<boolean> | undefined
const listeners = new Set<() => void>()

export interface Tokens {
  readonly accessToken: string
  readonly refreshToken: string
}

/** Reads /console/config.json: the API's origin when it is not this one (the distributed mode). */
export async function loadConfig(): Promise<void> {
  try {
    const res = await fetch('/console/config.json', { headers: { accept: 'application/json' } })
    if (!res.ok) return
    const config = (await res.json()) as { apiUrl?: unknown }
    if (typeof config.apiUrl === 'string') base = config.apiUrl.replace(/\/+$/, '')
  } catch {
    // Served without the console context (a static host with no config): the same origin.
  }
}

export const session = {
  signedIn: (): boolean => accessToken !== undefined || sessionStorage.getItem(refreshKey) !== null,
  org: (): string | undefined => sessionStorage.getItem(orgKey) ?? undefined,
  setOrg(orgId: string): void {
    sessionStorage.setItem(orgKey, orgId)
    notify()
  },
  start(tokens: Tokens, orgId?: string): void {
    accessToken = tokens.accessToken
    sessionStorage.setItem(refreshKey, tokens.refreshToken)
    if (orgId !== undefined) sessionStorage.setItem(orgKey, orgId)
    notify()
  },
  end(): void {
    accessToken = undefined
    sessionStorage.removeItem(refreshKey)
    sessionStorage.removeItem(orgKey)
    notify()
  },
  subscribe(listener: () => void): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  },
}

function notify(): void {
  for (const listener of listeners) listener()
}

async function refresh(): Promise<boolean> {
  const refreshToken = sessionStorage.getItem(refreshKey)
  if (refreshToken === null) return false
  refreshing ??= (async () => {
    try {
      const res = await fetch(`${base}/v1/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
      })
      if (!res.ok) {
        // Refused (expired, used, revoked): signed out. Throttled or unavailable: the session holds.
        if (res.status === 400 || res.status === 401) session.end()
        return false
      }
      const tokens = (await res.json()) as Tokens
      accessToken = tokens.accessToken
      sessionStorage.setItem(refreshKey, tokens.refreshToken)
      return true
    } catch {
      return false
    } finally {
      refreshing = undefined
    }
  })()
  return refreshing
}

function headersFor(extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...extra }
  if (accessToken !== undefined) headers.authorization = `Bearer ${accessToken}`
  const org = session.org()
  if (org !== undefined) headers['x-rxt-org'] = org
  return headers
}

/** Sends a request with the session's credentials, refreshing them once on a 401. */
async function send(
  path: string,
  init: RequestInit & { headers?: Record<string, string> },
): Promise<Response> {
  if (accessToken === undefined && sessionStorage.getItem(refreshKey) !== null) await refresh()
  const attempt = () => fetch(`${base}${path}`, { ...init, headers: headersFor(init.headers) })
  let res: Response
  try {
    res = await attempt()
  } catch (error) {
    throw new ApiError(0, 'unreachable', `the API did not answer: ${(error as Error).message}`)
  }
  if (res.status === 401 && !path.startsWith('/v1/auth/') && (await refresh())) res = await attempt()
  return res
}

/** A JSON call: the parsed answer, or an ApiError carrying the problem's detail and field errors. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(path, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  })
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = text
  }
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith('/v1/auth/')) session.end()
    throw toApiError(res.status, parsed, res.statusText)
  }
  return parsed as T
}

/** A query string of the defined values. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const entries = Object.entries(params).filter(
    (e): e is [string, string | number | boolean] => e[1] !== undefined && e[1] !== '',
  )
  return entries.length === 0
    ? ''
    : `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}`
}

/**
 * Follows a deployment's event stream until its `end` event or `signal` aborts, reconnecting after a
 * dropped connection with Last-Event-ID (EventSource cannot send Authorization, so fetch reads it).
 */
export async function followEvents(
  deploymentId: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  let lastId: string | undefined
  for (let attempt = 0; !signal.aborted && attempt < 20; attempt++) {
    const parser = createSseParser()
    let ended = false
    try {
      const res = await send(`/v1/deployments/${deploymentId}/events`, {
        method: 'GET',
        signal,
        headers: {
          accept: 'text/event-stream',
          ...(lastId === undefined ? {} : { 'last-event-id': lastId }),
        },
      })
      if (!res.ok || res.body === null) {
        const text = await res.text()
        throw toApiError(res.status, text === '' ? undefined : JSON.parse(text), res.statusText)
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        for (const event of parser.push(value)) {
          if (event.event === 'end') ended = true
          onEvent(event)
        }
        lastId = parser.lastEventId ?? lastId
      }
    } catch (error) {
      if (signal.aborted) return
      if (error instanceof ApiError && error.status !== 0 && error.status < 500) throw error
    }
    if (ended) return
    await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 5_000)))
  }
}
