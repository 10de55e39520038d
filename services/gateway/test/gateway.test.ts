import { request } from 'node:http'
import { createServer } from 'node:net'
import { identity } from '@rxt/identity'
import { createLogger, type Database, openDatabase, type Runtime } from '@rxt/kit'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { system } from '@rxt/system'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { gateway } from '../src/index.ts'
import { parseUpstreams } from '../src/upstreams.ts'

const log = createLogger({ level: 'silent' })

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
describe('the gateway in the distributed mode', () => {
  const databases: Database[] = []
  let contexts: Runtime
  let edge: Runtime
  const start = async (
    list: (typeof identity | typeof system | typeof gateway)[],
    env: Record<string, string>,
  ) => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    databases.push(database)
    return startTestRuntime({ contexts: list, database, env, mode: 'distributed' })
  }
  const call = async (
    method: string,
    url: string,
    headers: Record<string, string> = {},
    payload?: unknown,
  ) => {
    const res = await edge.app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload === undefined ? {} : { payload: payload as object }),
    })
    return { status: res.statusCode, body: res.body === '' ? undefined : res.json(), headers: res.headers }
  }

  beforeAll(async () => {
    contexts = await start([identity, system], {})
    const url = await contexts.listen()
    edge = await start([gateway], { GATEWAY_UPSTREAMS: `identity=${url},system=${url}`, IDENTITY_URL: url })
  })
  afterAll(async () => {
    await edge?.stop()
    await contexts?.stop()
    for (const d of databases) await d.close()
  })

  it('routes public and authenticated operations to their context, and authenticates at the edge', async () => {
    const signup = await call(
      'POST',
      '/v1/auth/signup',
      { 'content-type': 'application/json' },
      {
        email: 'ada@example.com',
        password: 'a long passphrase',
        name: 'Ada',
        orgName: 'Acme',
      },
    )
    expect(signup.status).toBe(201)
    const auth = { authorization: `Bearer ${signup.body.accessToken}` }
    const me = await call('GET', '/v1/me', auth)
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ email: 'ada@example.com', orgs: [{ name: 'Acme', role: 'owner' }] })
    expect((await call('GET', `/v1/orgs/${signup.body.orgId}/members`, auth)).body.items).toHaveLength(1)
    expect((await call('GET', '/v1/system')).body.contexts).toEqual(['identity', 'system'])
    // Refused at the edge, before the context sees it.
    expect((await call('GET', '/v1/me', { authorization: 'Bearer forged' })).status).toBe(401)
    expect((await call('GET', '/v1/me')).status).toBe(401)
    // A dot segment would be routed as one path and sent on as another (a raw request: clients normalise).
    const address = new URL(await edge.listen())
    const status = await new Promise<number>((resolve, reject) => {
      request(
        {
          host: address.hostname,
          port: address.port,
          method: 'DELETE',
          path: `/v1/orgs/${signup.body.orgId}/members/%2e%2e`,
          headers: auth,
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
        .on('error', reject)
        .end()
    })
    expect(status).toBe(400)
    // Idempotent at the edge: the same key and body create one organisation.
    const headers = { ...auth, 'content-type': 'application/json', 'idempotency-key': 'org-2' }
    const first = await call('POST', '/v1/orgs', headers, { name: 'Second' })
    const again = await call('POST', '/v1/orgs', headers, { name: 'Second' })
    expect(first.status).toBe(201)
    expect(again.body).toEqual(first.body)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect((await call('GET', '/v1/me', auth)).body.orgs).toHaveLength(2)
  })

  it('answers 503 naming the context when it is gone, and fails fast after 5 errors', async () => {
    await contexts.stop()
    const gone = await call('GET', '/v1/system')
    expect(gone.status).toBe(503)
    expect(gone.body.detail).toBe('the system context does not answer')
    for (let i = 0; i < 4; i++) await call('GET', '/v1/system')
    const fast = await call('GET', '/v1/system')
    expect(fast.status).toBe(503)
    expect(fast.body.detail).toMatch(/the system context is unavailable/)
  })

  it('routes a context that starts after it, once a probe finds it, and 404 until then', {
    timeout: 30_000,
  }, async () => {
    const port = await freePort()
    const late = await start([gateway], { GATEWAY_UPSTREAMS: `system=http://127.0.0.1:${port}` })
    const get = () => late.app.inject({ url: '/v1/system' })
    expect((await get()).statusCode).toBe(404)
    const upstream = await start([system], { PORT: String(port) })
    try {
      await upstream.listen()
      await until(async () => (await get()).statusCode === 200, 20_000, 'the late context routed')
      expect((await get()).json().contexts).toEqual(['system'])
    } finally {
      await upstream.stop()
      await late.stop()
    }
  })

  it('refuses a malformed upstream list, naming every mistake', () => {
    expect(() => parseUpstreams('identity=http://a:1,system,Bad=ftp://x')).toThrow(
      'GATEWAY_UPSTREAMS: "system" is not context=http(s)://host:port; "Bad=ftp://x" is not context=http(s)://host:port',
    )
    expect(parseUpstreams(' identity=http://a:1/ ')).toEqual([{ context: 'identity', url: 'http://a:1' }])
  })
})
