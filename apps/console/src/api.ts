import { ApiError, toApiError } from './problem.ts'
import { createSseParser, type SseEvent } from './sse.ts'

/**
 * The console's only way to the API: JSON over fetch, problem+json turned into ApiError. The tokens live
 * in sessionStorage (this tab, until it closes): the refresh token, and the access token with its expiry,
 * so a reload uses the access token while it is valid rather than spending a refresh. A 401 is answered by
 * one refresh (shared by the calls that met it) and the call is tried once more. A refresh refused (400,
 * 401) ends the session; one that fails otherwise (throttled, unreachable) keeps it and the call fails
 * with an ApiError saying so.
 */

const refreshKey = 'rxt.refresh'
const accessKey = 'rxt.access'
const orgKey = 'rxt.org'
/** An access token this close to its expiry is renewed before use rather than sent. */
const expiryMarginMs = 30_000

let base = ''
let refreshing: Promise<boolean> | undefined
const listeners = new Set<() => void>()

export interface Tokens {
  readonly accessToken: string
  readonly refreshToken: string
  /** Seconds the access token lives. */
  readonly expiresIn?: number
}

/** Reads /console/config.json: the API's origin when it is not this one (the distributed mode). */
export async function loadConfig(): Promise<void> {
  // The console context writes it into index.html; a static host serves config.json instead.
  const meta = document.querySelector<HTMLMetaElement>('meta[name="rxt-api-url"]')
  if (meta !== null) {
    base = meta.content.replace(/\/+$/, '')
    return
  }
  try {
    const res = await fetch('/console/config.json', { headers: { accept: 'application/json' } })
    if (!res.ok) return
    const config = (await res.json()) as { apiUrl?: unknown }
    if (typeof config.apiUrl === 'string') base = config.apiUrl.replace(/\/+$/, '')
  } catch {
    // Served without the console context (a static host with no config): the same origin.
  }
}

/** The stored access token while it is valid (past its margin: none). */
function currentAccessToken(): string | undefined {
  const stored = sessionStorage.getItem(accessKey)
  if (stored === null) return undefined
  try {
    const { token, expiresAt } = JSON.parse(stored) as { token?: unknown; expiresAt?: unknown }
    if (typeof token === 'string' && typeof expiresAt === 'number' && expiresAt - expiryMarginMs > Date.now())
      return token
  } catch {
    // A value this console did not write: as good as none.
  }
  sessionStorage.removeItem(accessKey)
  return undefined
}

function storeTokens(tokens: Tokens): void {
  // Without expiresIn (an older API), the access token's documented 15 minutes.
  const expiresAt = Date.now() + (tokens.expiresIn ?? 15 * 60) * 1000
  sessionStorage.setItem(accessKey, JSON.stringify({ token: tokens.accessToken, expiresAt }))
  sessionStorage.setItem(refreshKey, tokens.refreshToken)
}

export const session = {
  signedIn: (): boolean => sessionStorage.getItem(refreshKey) !== null || currentAccessToken() !== undefined,
  org: (): string | undefined => sessionStorage.getItem(orgKey) ?? undefined,
  setOrg(orgId: string): void {
    sessionStorage.setItem(orgKey, orgId)
    notify()
  },
  start(tokens: Tokens, orgId?: string): void {
    storeTokens(tokens)
    if (orgId !== undefined) sessionStorage.setItem(orgKey, orgId)
    notify()
  },
  end(): void {
    sessionStorage.removeItem(accessKey)
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

/** Why a refresh did not give new tokens, when the session survives it. */
let refreshFailure: string | undefined

/**
 * Renews the tokens with the refresh token: true when renewed; false when refused (the session then
 * ends) or when it could not be done (throttled, unreachable: the session holds, refreshFailure says why).
 */
async function refresh(): Promise<boolean> {
  const refreshToken = sessionStorage.getItem(refreshKey)
  if (refreshToken === null) return false
  refreshing ??= (async () => {
    try {
      refreshFailure = undefined
      const res = await fetch(`${base}/v1/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
      })
      if (!res.ok) {
        // Refused (expired, used, revoked): signed out. Throttled or unavailable: the session holds.
        if (res.status === 400 || res.status === 401) session.end()
        else refreshFailure = `the API answered ${res.status}`
        return false
      }
      storeTokens((await res.json()) as Tokens)
      return true
    } catch (error) {
      refreshFailure = `the API did not answer: ${(error as Error).message}`
      return false
    } finally {
      refreshing = undefined
    }
  })()
  return refreshing
}

/** The error of a call that needed a renewed session and could not get one, while the session holds. */
function renewalError(): ApiError {
  return new ApiError(
    503,
    'session-renewal-failed',
    `The session could not be renewed (${refreshFailure ?? 'no answer'}); try again in a moment.`,
  )
}

/** Signs out: the API revokes this sign-in's tokens, then the session and the cached answers go. */
export async function signOut(): Promise<void> {
  const refreshToken = sessionStorage.getItem(refreshKey)
  try {
    if (refreshToken !== null)
      await fetch(`${base}/v1/auth/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, application/problem+json' },
        body: JSON.stringify({ refreshToken }),
      })
  } catch {
    // Unreachable: the tokens are forgotten here all the same, and expire on their own.
  } finally {
    session.end()
  }
}

function headersFor(extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...extra }
  const accessToken = currentAccessToken()
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
  if (currentAccessToken() === undefined && sessionStorage.getItem(refreshKey) !== null) {
    // Without a renewed token the call could only meet a 401: fail it instead, the session held.
    if (!(await refresh()) && session.signedIn()) throw renewalError()
  }
  const attempt = () => fetch(`${base}${path}`, { ...init, headers: headersFor(init.headers) })
  let res: Response
  try {
    res = await attempt()
  } catch (error) {
    throw new ApiError(0, 'unreachable', `the API did not answer: ${(error as Error).message}`)
  }
  if (res.status === 401 && !path.startsWith('/v1/auth/')) {
    if (await refresh()) res = await attempt()
    else if (session.signedIn()) throw renewalError()
  }
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

/** The attempts at following a stream in a row without an event before giving up. */
export const streamAttempts = 20

/** Waits `ms`, or less when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done)
  })
}

function parseBody(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Follows a deployment's event stream until its `end` event or `signal` aborts, reconnecting after a
 * dropped connection with Last-Event-ID (EventSource cannot send Authorization, so fetch reads it). The
 * backoff starts again whenever events arrive; after `streamAttempts` attempts in a row without one it
 * gives up with an ApiError saying so (the page then polls instead).
 */
export async function followEvents(
  deploymentId: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  let lastId: string | undefined
  let lastError: string | undefined
  for (let attempt = 0; !signal.aborted && attempt < streamAttempts; attempt++) {
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
      if (!res.ok || res.body === null)
        throw toApiError(res.status, parseBody(await res.text()), res.statusText)
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        const events = parser.push(value)
        // Data arrived: the connection works, the backoff starts over.
        if (events.length > 0) attempt = 0
        for (const event of events) {
          if (event.event === 'end') ended = true
          onEvent(event)
        }
        lastId = parser.lastEventId ?? lastId
      }
    } catch (error) {
      if (signal.aborted) return
      if (error instanceof ApiError && error.status !== 0 && error.status < 500 && error.status !== 429)
        throw error
      lastError = (error as Error).message
    }
    if (ended) return
    await sleep(Math.min(250 * 2 ** attempt, 5_000), signal)
  }
  if (signal.aborted) return
  throw new ApiError(
    0,
    'stream-unavailable',
    `The live event stream stopped after ${streamAttempts} attempts${lastError === undefined ? '' : ` (${lastError})`}; the page polls for changes instead.`,
  )
}
