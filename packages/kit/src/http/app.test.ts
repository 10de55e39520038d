import { Writable } from 'node:stream'
import { Validator } from '@seriousme/openapi-schema-validator'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AuthenticationError,
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
} from '../errors.ts'
import { createLogger } from '../log.ts'
import { createHttpApp, type HttpApp } from './app.ts'
import { problemResponse } from './problem.ts'

let app: HttpApp
let ready = true
let nearLimit: string | undefined
const lines: Record<string, unknown>[] = []
const contextLog = createLogger({
  level: 'info',
  destination: new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)))
      done()
    },
  }),
})

beforeAll(async () => {
  app = await createHttpApp({
    log: createLogger({ level: 'silent' }),
    title: 'test',
    version: '1.2.3',
    readiness: [
      {
        name: 'database',
        check: async () => {
          if (!ready) throw new Error('down')
        },
        warning: () => nearLimit,
      },
    ],
  })
  const errors = {
    input: new InputError('name is missing', [{ path: '/body/name', message: 'is required' }]),
    'not-found': new NotFoundError('project p1 does not exist'),
    conflict: new ConflictError('project p1 already exists'),
    'not-allowed': new NotAllowedError('viewers cannot deploy'),
    authentication: new AuthenticationError('no credentials'),
    unavailable: new UnavailableError('the database cannot be reached'),
    internal: new Error('password=hunter2 leaked from a driver'),
  }
  app.get('/throw/:kind', async (request) => {
    throw errors[(request.params as { kind: keyof typeof errors }).kind]
  })
  app.get('/logs', async () => {
    await new Promise((resolve) => setTimeout(resolve, 5))
    contextLog.info('inside a request')
    return { ok: true }
  })
  app.post(
    '/things',
    {
      schema: {
        body: Type.Object({ name: Type.String({ minLength: 1 }), size: Type.Integer({ minimum: 1 }) }),
        response: { 201: Type.Object({ name: Type.String() }), 400: problemResponse('Invalid input') },
      },
    },
    async (request, reply) => reply.code(201).send({ name: request.body.name }),
  )
  await app.ready()
})
afterAll(() => app.close())

describe('kit http app', () => {
  it('answers /healthz', async () => {
    const res = await app.inject({ url: '/healthz' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })

  it('answers /readyz 200 with warnings while a dependency answers but nears a limit', async () => {
    nearLimit = '1 stream is past 80% of its limits'
    const res = await app.inject({ url: '/readyz' })
    nearLimit = undefined
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      status: 'ok',
      checks: { database: 'ok' },
      warnings: { database: '1 stream is past 80% of its limits' },
    })
  })

  it('answers /readyz 200 while its checks pass and 503 problem+json while one fails', async () => {
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({
      status: 'ok',
      checks: { database: 'ok' },
    })
    ready = false
    const res = await app.inject({ url: '/readyz' })
    ready = true
    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toMatchObject({
      status: 503,
      code: 'unavailable',
      retryable: true,
      detail: 'not ready: database unavailable',
    })
  })

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const given = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } })
    expect(given.headers['x-request-id']).toBe('abc-123')
    const bad = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'a b\tc'.repeat(50) } })
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const none = await app.inject({ url: '/healthz' })
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it.each([
    ['input', 400, false],
    ['authentication', 401, false],
    ['not-allowed', 403, false],
    ['not-found', 404, false],
    ['conflict', 409, false],
    ['unavailable', 503, true],
  ] as const)('maps %s errors to RFC 9457 problem+json with status %i', async (code, status, retryable) => {
    const res = await app.inject({ url: `/throw/${code}`, headers: { 'x-request-id': 'rid-1' } })
    expect(res.statusCode).toBe(status)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({
      type: `urn:rxt:problem:${code}`,
      status,
      code,
      retryable,
      instance: `/throw/${code}`,
      requestId: 'rid-1',
    })
  })

  it('carries the violations of an InputError', async () => {
    const res = await app.inject({ url: '/throw/input' })
    expect(res.json().errors).toEqual([{ path: '/body/name', message: 'is required' }])
  })

  it('puts the request id on every log line written while serving it, whichever logger writes it', async () => {
    const res = await app.inject({ url: '/logs', headers: { 'x-request-id': 'trace-me-7' } })
    expect(res.statusCode).toBe(200)
    expect(lines.at(-1)).toMatchObject({ msg: 'inside a request', correlationId: 'trace-me-7' })
  })

  it('turns an unknown error into a 500 that reveals nothing of it', async () => {
    const res = await app.inject({ url: '/throw/internal', headers: { 'x-request-id': 'rid-2' } })
    expect(res.statusCode).toBe(500)
    expect(res.body).not.toContain('hunter2')
    expect(res.json()).toMatchObject({ code: 'internal', detail: expect.stringContaining('rid-2') })
  })

  it('reports schema violations with their paths, and bad JSON and unknown routes as problems', async () => {
    const invalid = await app.inject({ method: 'POST', url: '/things', payload: { name: '', size: 0 } })
    expect(invalid.statusCode).toBe(400)
    expect(
      invalid
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['/body/name', '/body/size'])
    const badJson = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.headers['content-type']).toMatch(/^application\/problem\+json/)
    const media = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    })
    expect(media.statusCode).toBe(415)
    const missing = await app.inject({ url: '/nowhere' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ code: 'not-found', detail: 'no route for GET /nowhere' })
    const ok = await app.inject({ method: 'POST', url: '/things', payload: { name: 'a', size: 1 } })
    expect(ok.statusCode).toBe(201)
  })

  it('serves Prometheus metrics with request durations by route', async () => {
    await app.inject({ url: '/healthz' })
    await app.inject({ url: '/no/such/path' })
    const res = await app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} \d+/,
    )
    expect(res.body).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} \d+/,
    )
    expect(res.body).toContain('process_cpu_seconds_total')
  })

  it('serves a valid OpenAPI 3.1 document and renders it at /docs', async () => {
    const res = await app.inject({ url: '/openapi.json' })
    const doc = res.json()
    expect(doc.openapi).toBe('3.1.0')
    const result = await new Validator().validate(doc)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/things']),
    )
    expect(doc.paths['/things'].post.responses['400'].content['application/problem+json'].schema).toEqual({
      $ref: '#/components/schemas/Problem',
    })
    const redirect = await app.inject({ url: '/docs' })
    expect(redirect.statusCode).toBe(301)
    const docs = await app.inject({ url: redirect.headers.location as string })
    expect(docs.statusCode).toBe(200)
    expect(docs.body).toContain('/openapi.json')
    expect(docs.headers['content-type']).toMatch(/text\/html/)
  })
})

describe('schemas compiled on first use', () => {
  it('starts with a schema that cannot compile, answers its route 500, and logs it once the app listens', async () => {
    const logged: Record<string, unknown>[] = []
    const broken = await createHttpApp({
      log: createLogger({
        level: 'error',
        destination: new Writable({
          write(chunk, _encoding, done) {
            logged.push(JSON.parse(String(chunk)))
            done()
          },
        }),
      }),
      title: 'test',
      version: '1',
      readiness: [],
    })
    broken.get('/fine', { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } } }, async () => ({
      ok: true,
    }))
    broken.get(
      '/broken',
      { schema: { querystring: { type: 'object', properties: { q: { $ref: '#/definitions/nowhere' } } } } },
      async () => ({ ok: true }),
    )
    await broken.ready()
    try {
      expect((await broken.inject({ url: '/fine' })).json()).toEqual({ ok: true })
      await broken.listen({ host: '127.0.0.1', port: 0 })
      for (let i = 0; i < 100 && logged.length < 2; i++) await new Promise((r) => setTimeout(r, 20))
      // The route and the HEAD route Fastify adds beside it.
      expect(logged.map((l) => [l.msg, l.route]).sort()).toEqual([
        ['a schema of this route does not compile: its requests fail', 'GET /broken (querystring)'],
        ['a schema of this route does not compile: its requests fail', 'HEAD /broken (querystring)'],
      ])
      expect((await broken.inject({ url: '/broken?q=1' })).statusCode).toBe(500)
    } finally {
      await broken.close()
    }
  })
})
