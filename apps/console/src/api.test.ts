import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ApiError } from './problem.ts'

/** sessionStorage as a tab has it, in memory. */
class MemoryStorage {
  readonly items = new Map<string, string>()
  getItem = (key: string) => this.items.get(key) ?? null
  setItem = (key: string, value: string) => void this.items.set(key, value)
  removeItem = (key: string) => void this.items.delete(key)
}

interface Call {
  readonly url: string
  readonly method: string
  readonly body: unknown
  readonly authorization: string | undefined
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' },
  })

let storage: MemoryStorage
let calls: Call[]
let answer: (call: Call) => Response | Promise<Response>

/** A fresh module, as a page load has it: nothing in memory, only what sessionStorage kept. */
const load = async () => {
  vi.resetModules()
  return import('./api.ts')
}

beforeEach(() => {
  storage = new MemoryStorage()
  calls = []
  vi.stubGlobal('sessionStorage', storage)
  vi.stubGlobal('fetch', async (url: string, init: RequestInit = {}) => {
    const headers = (init.headers ?? {}) as Record<string, string>
    const call = {
      url,
      method: init.method ?? 'GET',
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      authorization: headers.authorization,
    }
    calls.push(call)
    return answer(call)
  })
})

afterEach(() => {
  vi.unstubAllGlobals()
})

const tokens = (n: number) => ({ accessToken: `access-${n}`, refreshToken: `refresh-${n}`, expiresIn: 900 })

describe('the console API client', () => {
  it('signs out by revoking the refresh token, then forgets the session', async () => {
    const { session, signOut } = await load()
    session.start(tokens(1), 'org-1')
    answer = () => new Response(null, { status: 204 })
    await signOut()
    expect(calls).toEqual([
      {
        url: '/v1/auth/logout',
        method: 'POST',
        body: { refreshToken: 'refresh-1' },
        authorization: undefined,
      },
    ])
    expect(session.signedIn()).toBe(false)
    expect(storage.items.size).toBe(0)
  })

  it('forgets the session on sign-out even when the API cannot be reached', async () => {
    const { session, signOut } = await load()
    session.start(tokens(1))
    answer = () => {
      throw new TypeError('fetch failed')
    }
    await signOut()
    expect(session.signedIn()).toBe(false)
  })

  it('uses the stored access token after a reload without refreshing', async () => {
    ;(await load()).session.start(tokens(1), 'org-1')
    const { api } = await load()
    answer = () => json(200, { id: 'me' })
    expect(await api('GET', '/v1/me')).toEqual({ id: 'me' })
    expect(calls.map((c) => [c.url, c.authorization])).toEqual([['/v1/me', 'Bearer access-1']])
  })

  it('refreshes once before a call when the stored access token has expired', async () => {
    ;(await load()).session.start({ ...tokens(1), expiresIn: 10 })
    const { api } = await load()
    answer = (call) => (call.url === '/v1/auth/refresh' ? json(200, tokens(2)) : json(200, {}))
    await api('GET', '/v1/me')
    expect(calls.map((c) => [c.url, c.authorization])).toEqual([
      ['/v1/auth/refresh', undefined],
      ['/v1/me', 'Bearer access-2'],
    ])
    expect(calls[0]?.body).toEqual({ refreshToken: 'refresh-1' })
    expect(storage.getItem('rxt.refresh')).toBe('refresh-2')
  })

  it('keeps the session when a refresh is throttled, and says the session could not be renewed', async () => {
    const { api, session } = await load()
    session.start(tokens(1))
    answer = (call) =>
      call.url === '/v1/auth/refresh'
        ? json(429, { code: 'rate-limited', detail: 'slow down' })
        : json(401, { code: 'unauthenticated', detail: 'expired' })
    const error = await api('GET', '/v1/me').catch((e: unknown) => e)
    // A fresh module has its own ApiError class: the name says it.
    expect((error as Error).name).toBe('ApiError')
    expect((error as ApiError).code).toBe('session-renewal-failed')
    expect((error as ApiError).detail).toMatch(/could not be renewed.*try again/)
    expect(session.signedIn()).toBe(true)
    expect(storage.getItem('rxt.refresh')).toBe('refresh-1')
  })

  it('keeps the session when the API cannot be reached for a refresh', async () => {
    ;(await load()).session.start({ ...tokens(1), expiresIn: 0 })
    const { api, session } = await load()
    answer = () => {
      throw new TypeError('fetch failed')
    }
    const error = await api('GET', '/v1/me').catch((e: unknown) => e)
    expect((error as ApiError).code).toBe('session-renewal-failed')
    // No call without a token was made: it could only have met a 401.
    expect(calls.map((c) => c.url)).toEqual(['/v1/auth/refresh'])
    expect(session.signedIn()).toBe(true)
  })

  it('ends the session when the refresh is refused', async () => {
    const { api, session } = await load()
    session.start(tokens(1))
    answer = (call) =>
      call.url === '/v1/auth/refresh'
        ? json(401, { code: 'unauthenticated', detail: 'refresh token revoked' })
        : json(401, { code: 'unauthenticated', detail: 'expired' })
    await expect(api('GET', '/v1/me')).rejects.toMatchObject({ status: 401 })
    expect(session.signedIn()).toBe(false)
  })

  it('answers a 401 with one refresh shared by the calls that met it, then tries each again', async () => {
    const { api, session } = await load()
    session.start(tokens(1))
    answer = (call) =>
      call.url === '/v1/auth/refresh'
        ? json(200, tokens(2))
        : call.authorization === 'Bearer access-2'
          ? json(200, { ok: call.url })
          : json(401, { code: 'unauthenticated', detail: 'expired' })
    const answers = await Promise.all([api('GET', '/v1/a'), api('GET', '/v1/b')])
    expect(answers).toEqual([{ ok: '/v1/a' }, { ok: '/v1/b' }])
    expect(calls.filter((c) => c.url === '/v1/auth/refresh')).toHaveLength(1)
  })

  it('gives up on an event stream that cannot be reached with an error that says so', async () => {
    vi.useFakeTimers()
    try {
      const { followEvents, session, streamAttempts } = await load()
      session.start(tokens(1))
      answer = () => json(503, { code: 'unavailable', detail: 'down' })
      const done = followEvents('d-1', () => undefined, new AbortController().signal).catch((e: unknown) => e)
      await vi.runAllTimersAsync()
      const error = (await done) as ApiError
      expect(error.code).toBe('stream-unavailable')
      expect(error.detail).toMatch(/polls for changes instead/)
      expect(calls).toHaveLength(streamAttempts)
    } finally {
      vi.useRealTimers()
    }
  })

  it('reads a non-JSON error body of the event stream as an error, not a parse failure', async () => {
    const { followEvents, session } = await load()
    session.start(tokens(1))
    answer = () => new Response('<html>not found</html>', { status: 404 })
    await expect(followEvents('d-1', () => undefined, new AbortController().signal)).rejects.toMatchObject({
      status: 404,
    })
  })

  it('starts the backoff over once events arrive', async () => {
    vi.useFakeTimers()
    try {
      const { followEvents, session, streamAttempts } = await load()
      session.start(tokens(1))
      let n = 0
      answer = () => {
        n++
        // Every other connection delivers one event then drops; the last one ends the stream.
        if (n === 3 * streamAttempts)
          return new Response('id: end\nevent: end\ndata: {}\n\n', { status: 200 })
        return n % 2 === 0
          ? new Response(`id: ${n}\nevent: step.started\ndata: {}\n\n`, { status: 200 })
          : json(503, { code: 'unavailable', detail: 'down' })
      }
      const seen: string[] = []
      const done = followEvents('d-1', (e) => seen.push(e.event), new AbortController().signal)
      await vi.runAllTimersAsync()
      await done
      expect(seen.at(-1)).toBe('end')
      expect(n).toBe(3 * streamAttempts)
    } finally {
      vi.useRealTimers()
    }
  })
})
