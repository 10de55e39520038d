import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Principal } from '../auth/access.ts'
import { defineContext } from '../context.ts'
import { type Database, openDatabase } from '../db/index.ts'
import { AuthenticationError } from '../errors.ts'
import { createLogger } from '../log.ts'
import type { Runtime } from '../runtime.ts'
import { startTestRuntime } from '../testing/runtime.ts'

const log = createLogger({ level: 'silent' })
const redisUrl = inject('redisUrl')

/** Callers by token: `key-<id>` is an API key of org `o-<id>`; `user-<id>` a user in orgs `a-<id>` and `b-<id>`. */
const callers = defineContext({
  name: 'callers',
  authenticator: () => ({
    authenticate: async (header: string): Promise<Principal> => {
      const m = /^Bearer (key|user)-(\w+)$/.exec(header)
      if (m === null) throw new AuthenticationError('unknown token')
      const id = m[2] as string
      return m[1] === 'key'
        ? {
            kind: 'api-key',
            id,
            userId: undefined,
            operator: false,
            orgs: new Map([[`o-${id}`, { role: 'viewer', permissions: ['org:read'] }]]),
          }
        : {
            kind: 'user',
            id,
            userId: id,
            operator: false,
            orgs: new Map([
              [`a-${id}`, { role: 'viewer', permissions: ['org:read'] }],
              [`b-${id}`, { role: 'viewer', permissions: ['org:read'] }],
            ]),
          }
    },
  }),
  routes: (app) => {
    app.get('/ping', { config: { auth: { permission: 'org:read' } } }, async () => ({ ok: true }))
    app.get('/open', { config: { auth: { public: 'a test route' } } }, async () => ({ ok: true }))
    app.post('/sign-in', { config: { auth: { public: 'signs in' }, signIn: true } }, async (request) => {
      if ((request.body as { password?: string }).password !== 'right')
        throw new AuthenticationError('wrong password')
      return { ok: true }
    })
  },
})

const targets = [
  { name: 'in memory', redis: undefined as string | undefined, skipped: undefined as string | undefined },
  { name: 'on Redis', redis: redisUrl, skipped: redisUrl === '' ? inject('redisSkipReason') : undefined },
]

for (const target of targets) {
  describe.skipIf(target.skipped !== undefined)(`the edge, counters ${target.name}`, () => {
    let database: Database
    const runtimes: Runtime[] = []
    const start = async (extra: Record<string, string> = {}) => {
      const runtime = await startTestRuntime({
        contexts: [callers],
        database,
        env: {
          RATE_LIMIT_PER_MINUTE: '3',
          CORS_ORIGINS: 'https://console.example.com',
          ...(target.redis === undefined ? {} : { REDIS_URL: target.redis }),
          ...extra,
        },
      })
      runtimes.push(runtime)
      return runtime
    }
    beforeAll(async () => {
      database = await openDatabase({ kind: 'pglite' }, log)
    })
    afterAll(async () => {
      for (const r of runtimes) await r.stop()
      await database?.close()
    })

    it('limits each API key and each organisation on its own, with 429, Retry-After and a problem document', async () => {
      const runtime = await start()
      const run = randomUUID().slice(0, 8)
      const get = (token: string, org?: string) =>
        runtime.app.inject({
          url: '/v1/ping',
          headers: { authorization: `Bearer ${token}`, ...(org === undefined ? {} : { 'x-rxt-org': org }) },
        })
      for (let i = 0; i < 3; i++) expect((await get(`key-a${run}`)).statusCode).toBe(200)
      const limited = await get(`key-a${run}`)
      expect(limited.statusCode).toBe(429)
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
      expect(limited.headers['content-type']).toMatch(/problem\+json/)
      expect(limited.json()).toMatchObject({ status: 429, retryable: true })
      // Another key, and a user's requests counted per organisation, have limits of their own.
      expect((await get(`key-b${run}`)).statusCode).toBe(200)
      for (let i = 0; i < 3; i++) expect((await get(`user-${run}`, `a-${run}`)).statusCode).toBe(200)
      expect((await get(`user-${run}`, `a-${run}`)).statusCode).toBe(429)
      expect((await get(`user-${run}`, `b-${run}`)).statusCode).toBe(200)
    })

    if (target.redis !== undefined) {
      it('shares the counters between replicas', async () => {
        const [one, two] = [await start(), await start()]
        const run = randomUUID().slice(0, 8)
        const headers = { authorization: `Bearer key-s${run}` }
        for (const r of [one, two, one])
          expect((await r.app.inject({ url: '/v1/ping', headers })).statusCode).toBe(200)
        expect((await two.app.inject({ url: '/v1/ping', headers })).statusCode).toBe(429)
      })
    }

    it('counts anonymous calls per client behind a trusted proxy, and per peer otherwise', async () => {
      const trusting = await start({ TRUSTED_PROXIES: '127.0.0.1' })
      const octet = () => Math.floor(Math.random() * 250) + 1
      const open = (runtime: Runtime, client: string) =>
        runtime.app.inject({ url: '/v1/open', headers: { 'x-forwarded-for': `${client}` } })
      const prefix = `10.${octet()}.${octet()}`
      const [a, b] = [`${prefix}.1`, `${prefix}.2`]
      for (let i = 0; i < 3; i++) expect((await open(trusting, a)).statusCode).toBe(200)
      expect((await open(trusting, a)).statusCode).toBe(429)
      expect((await open(trusting, b)).statusCode).toBe(200)
    })

    it('refuses credentials from an address after too many failed authentications, right or wrong', async () => {
      const runtime = await start({
        TRUSTED_PROXIES: '127.0.0.1',
        AUTH_FAILURES_PER_MINUTE: '4',
        RATE_LIMIT_PER_MINUTE: '100',
      })
      const run = randomUUID().slice(0, 8)
      const octet = () => Math.floor(Math.random() * 250) + 1
      const [guesser, neighbour] = [`10.${octet()}.${octet()}.7`, `10.${octet()}.${octet()}.8`]
      const call = (client: string, authorization?: string) =>
        runtime.app.inject({
          url: '/v1/ping',
          headers: {
            'x-forwarded-for': client,
            'x-rxt-org': `a-${run}`,
            ...(authorization === undefined ? {} : { authorization }),
          },
        })
      // Calls without a credential neither count nor get refused.
      for (let i = 0; i < 6; i++) expect((await call(guesser)).statusCode).toBe(401)
      for (let i = 0; i < 4; i++) expect((await call(guesser, `Bearer wrong-${i}`)).statusCode).toBe(401)
      const refused = await call(guesser, `Bearer user-${run}`)
      expect(refused.statusCode).toBe(429)
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
      expect(refused.json()).toMatchObject({
        status: 429,
        detail: expect.stringContaining('failed authentications'),
      })
      expect((await call(guesser)).statusCode).toBe(401)
      expect((await call(neighbour, `Bearer user-${run}`)).statusCode).toBe(200)

      // Signing in counts and is refused alike.
      const signIn = (password: string) =>
        runtime.app.inject({
          method: 'POST',
          url: '/v1/sign-in',
          headers: { 'x-forwarded-for': neighbour },
          payload: { password },
        })
      // Sign-ins count as they start, right or wrong: the fifth in the minute is refused.
      expect((await signIn('right')).statusCode).toBe(200)
      for (let i = 0; i < 3; i++) expect((await signIn('wrong')).statusCode).toBe(401)
      const locked = await signIn('right')
      expect(locked.statusCode).toBe(429)
      expect(locked.json().detail).toContain('failed authentications')
    })

    it('sends security headers and answers CORS only for allowed origins', async () => {
      const runtime = runtimes[0] ?? (await start())
      const res = await runtime.app.inject({
        url: '/v1/open',
        headers: { origin: 'https://console.example.com' },
      })
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['strict-transport-security']).toBeDefined()
      expect(res.headers['access-control-allow-origin']).toBe('https://console.example.com')
      const other = await runtime.app.inject({
        url: '/v1/open',
        headers: { origin: 'https://evil.example.com' },
      })
      expect(other.headers['access-control-allow-origin']).toBeUndefined()
    })

    it("lets an allowed origin resume a stream with Last-Event-ID and send the console's headers", async () => {
      const runtime = runtimes[0] ?? (await start())
      const res = await runtime.app.inject({
        method: 'OPTIONS',
        url: '/v1/open',
        headers: {
          origin: 'https://console.example.com',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization,last-event-id,x-rxt-org',
        },
      })
      expect(res.statusCode).toBeLessThan(300)
      expect(res.headers['access-control-allow-origin']).toBe('https://console.example.com')
      const allowed = String(res.headers['access-control-allow-headers'])
        .toLowerCase()
        .split(/\s*,\s*/)
      expect(allowed).toEqual(expect.arrayContaining(['authorization', 'last-event-id', 'x-rxt-org']))
    })
  })
}

describe('addressKey', () => {
  it('counts IPv4 addresses one by one and IPv6 clients by their /64', async () => {
    const { addressKey } = await import('./edge.ts')
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3')
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
  })
})
