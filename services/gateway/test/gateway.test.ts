import { createHash } from 'node:crypto'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { Readable } from 'node:stream'
import { identity } from '@rxt/identity'
import { createLogger, type Database, defineContext, openDatabase, type Runtime } from '@rxt/kit'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { system } from '@rxt/system'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { gateway } from '../src/index.ts'
import { parseUpstreams } from '../src/upstreams.ts'

const log = createLogger({ level: 'silent' })

/**
 * A context that shows what reached it: the headers of a request, the bytes of a streamed body, a
 * streamed answer of any length, an operator route of its own, and a consumer on the bus.
 */
let releaseHeld: () => void = () => undefined
const echo = defineContext({
  name: 'echo',
  routes: (app) => {
    const open = { auth: { public: 'a test context' } } as const
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload))
    app.get('/echo/headers', { config: open }, async (request, reply) => {
      reply.header('x-echo-response', 'yes')
      reply.header('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
      reply.header('keep-alive', 'timeout=5')
      return request.headers
    })
    app.post('/echo/bytes', { config: open, bodyLimit: 64 * 1024 * 1024 }, async (request) => {
      const hash = createHash('sha256')
      let bytes = 0
      for await (const chunk of request.body as Readable) {
        bytes += (chunk as Buffer).length
        hash.update(chunk as Buffer)
      }
      return { bytes, sha256: hash.digest('hex'), contentType: request.headers['content-type'] ?? null }
    })
    app.get<{ Querystring: { bytes: string } }>('/echo/stream', { config: open }, async (request, reply) => {
      const total = Number(request.query.bytes)
      const chunk = Buffer.alloc(64 * 1024, 'x')
      async function* chunks() {
        for (let sent = 0; sent < total; sent += chunk.length)
          yield chunk.subarray(0, Math.min(chunk.length, total - sent))
      }
      return reply.type('application/octet-stream').send(Readable.from(chunks()))
    })
    // Sends a first part, then the rest only once the test has received the first part.
    app.get('/echo/held', { config: open }, async (_request, reply) => {
      const held = new Promise<void>((resolve) => {
        releaseHeld = resolve
      })
      async function* parts() {
        yield Buffer.from('first|')
        await held
        yield Buffer.from('last')
      }
      return reply.type('text/plain').send(Readable.from(parts()))
    })
    app.post('/admin/echo/ping', { config: { auth: { operator: true } } }, async () => ({ pong: true }))
  },
  handlers: () => [{ id: 'listener', types: ['evt.repo.verified'], handle: async () => undefined }],
})

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
  let upstreamUrl: string
  let listening: Promise<string> | undefined
  /** The gateway's address (it listens from the first call on). */
  const edgeUrl = () => {
    listening ??= edge.listen()
    return listening
  }
  /** The first account of the installation: its platform operator. */
  let operator: Record<string, string> = {}
  const start = async (
    list: (typeof identity | typeof system | typeof gateway | typeof echo)[],
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
    contexts = await start([identity, system, echo], {})
    upstreamUrl = await contexts.listen()
    edge = await start([gateway], {
      GATEWAY_UPSTREAMS: `identity=${upstreamUrl},system=${upstreamUrl},echo=${upstreamUrl}`,
      IDENTITY_URL: upstreamUrl,
    })
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
    operator = auth
    const me = await call('GET', '/v1/me', auth)
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ email: 'ada@example.com', orgs: [{ name: 'Acme', role: 'owner' }] })
    expect((await call('GET', `/v1/orgs/${signup.body.orgId}/members`, auth)).body.items).toHaveLength(1)
    expect((await call('GET', '/v1/system')).body.contexts).toEqual(['identity', 'system', 'echo'])
    // Refused at the edge, before the context sees it.
    expect((await call('GET', '/v1/me', { authorization: 'Bearer forged' })).status).toBe(401)
    expect((await call('GET', '/v1/me')).status).toBe(401)
    // A dot segment would be routed as one path and sent on as another (a raw request: clients normalise).
    const address = new URL(await edgeUrl())
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

  it("answers its own /healthz, /readyz, /metrics and /docs, and /openapi.json lists every upstream's operations", async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/docs/']) {
      expect((await edge.app.inject({ url })).statusCode, url).toBe(200)
    }
    // The reference page renders the document the gateway serves.
    expect((await edge.app.inject({ url: '/docs/' })).body).toContain('/openapi.json')
    expect((await call('GET', '/readyz')).body).toMatchObject({ status: 'ok' })
    const merged = (await call('GET', '/openapi.json')).body
    const upstream = await (await fetch(`${upstreamUrl}/openapi.json`)).json()
    const listed = (doc: { paths: Record<string, object> }) =>
      Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`))
    const theirs = listed(upstream)
    expect(theirs).toEqual(
      expect.arrayContaining(['get /v1/me', 'get /v1/system', 'post /v1/admin/echo/ping']),
    )
    expect(listed(merged)).toEqual(expect.arrayContaining(theirs))
    expect(listed(merged)).toContain('get /v1/gateway/upstreams')
    // As the context describes it: its tags, its security, its schemas.
    expect(merged.paths['/v1/me'].get).toEqual(upstream.paths['/v1/me'].get)
    for (const ref of JSON.stringify(merged).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      expect(merged.components.schemas, ref[1]).toHaveProperty([ref[1] as string])
    }
    // The per-process operations say how to reach another process's.
    expect(merged.paths['/v1/admin/consumers'].get.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ in: 'header', name: 'x-rxt-context' })]),
    )
    expect((await call('GET', '/v1/gateway/upstreams')).body).toEqual({
      ready: true,
      items: [
        { context: 'identity', ready: true, breaker: 'closed', operations: expect.any(Number) },
        { context: 'system', ready: true, breaker: 'closed', operations: expect.any(Number) },
        { context: 'echo', ready: true, breaker: 'closed', operations: expect.any(Number) },
      ],
    })
  })

  it('forwards every end-to-end header both ways, drops the hop-by-hop ones, and sets X-Forwarded-*', async () => {
    const res = await edge.app.inject({
      url: '/v1/echo/headers?q=1',
      headers: {
        host: 'deploy.example.com',
        'x-github-event': 'push',
        'x-github-delivery': 'd-1',
        'x-hub-signature-256': 'sha256=abc',
        'x-request-id': 'req-123',
        'x-forwarded-for': '203.0.113.9',
        'proxy-authorization': 'Basic c2VjcmV0',
        te: 'trailers',
        'keep-alive': 'timeout=5',
        connection: 'keep-alive, x-only-this-hop',
        'x-only-this-hop': 'secret',
      },
    })
    expect(res.statusCode).toBe(200)
    const seen = res.json()
    expect(seen).toMatchObject({
      'x-github-event': 'push',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': 'sha256=abc',
      'x-request-id': 'req-123',
      'x-forwarded-for': '203.0.113.9, 127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'deploy.example.com',
      host: new URL(upstreamUrl).host,
    })
    for (const name of ['proxy-authorization', 'te', 'keep-alive', 'x-only-this-hop']) {
      expect(seen, name).not.toHaveProperty([name])
    }
    expect(res.headers['x-echo-response']).toBe('yes')
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/'])
    expect(res.headers['keep-alive']).toBeUndefined()
    expect(res.headers['x-request-id']).toBe('req-123')
  })

  it('streams bodies both ways, past the size the gateway would read whole', async () => {
    const size = 5 * 1024 * 1024 + 7 // bodyLimit is 1 MiB: only a stream gets through whole
    const body = Buffer.alloc(size, 'y')
    const address = await edgeUrl()
    const sent = await fetch(`${address}/v1/echo/bytes`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Readable.toWeb(Readable.from([body.subarray(0, 1000), body.subarray(1000)])) as ReadableStream,
      duplex: 'half',
    } as RequestInit)
    expect(sent.status).toBe(200)
    expect(await sent.json()).toEqual({
      bytes: size,
      sha256: createHash('sha256').update(body).digest('hex'),
      contentType: 'application/octet-stream',
    })
    const received = await fetch(`${address}/v1/echo/stream?bytes=${size}`)
    expect(received.status).toBe(200)
    expect((await received.arrayBuffer()).byteLength).toBe(size)
    // The first part of an answer reaches the client while the upstream still holds the rest back.
    const held = await fetch(`${address}/v1/echo/held`)
    const reader = (held.body as ReadableStream<Uint8Array>).getReader()
    const first = await reader.read()
    expect(Buffer.from(first.value ?? []).toString()).toBe('first|')
    releaseHeld()
    let rest = ''
    for (let part = await reader.read(); !part.done; part = await reader.read())
      rest += Buffer.from(part.value)
    expect(rest).toBe('last')
  })

  it("sends operator routes to the process that serves them: a context's own, and a process's bus by X-RXT-Context", async () => {
    expect((await call('POST', '/v1/admin/echo/ping', operator)).body).toEqual({ pong: true })
    expect((await call('POST', '/v1/admin/echo/ping')).status).toBe(401)
    const consumers = (headers: Record<string, string>) =>
      call('GET', '/v1/admin/consumers', { ...operator, ...headers })
    const there = await consumers({ 'x-rxt-context': 'echo' })
    expect(there.status).toBe(200)
    expect(there.body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ context: 'echo', consumer: 'echo.listener' })]),
    )
    // Without the header, the gateway's own process answers: it runs no consumer.
    expect((await consumers({})).body).toEqual({ items: [] })
    const nowhere = await consumers({ 'x-rxt-context': 'billing' })
    expect(nowhere.status).toBe(404)
    expect(nowhere.body.detail).toBe('no context billing is routed by this gateway')
    expect((await call('GET', '/v1/admin/consumers', { 'x-rxt-context': 'echo' })).status).toBe(401)
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
      const listed = async () => Object.keys((await late.app.inject({ url: '/openapi.json' })).json().paths)
      expect(await listed()).not.toContain('/v1/system')
      await until(async () => (await get()).statusCode === 200, 20_000, 'the late context routed')
      expect((await get()).json().contexts).toEqual(['system'])
      // Its document joins the gateway's.
      expect(await listed()).toContain('/v1/system')
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
