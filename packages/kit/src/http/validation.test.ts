import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migration } from '../db/migrations.ts'
import type { ContextDb } from '../db/types.ts'
import { createLogger } from '../log.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { createHttpApp, type HttpApp } from './app.ts'
import { createDeferredCompilations } from './validation.ts'

const nul = '\u0000'
const [pglite] = dbTargets()

describe('request validation', () => {
  let app: HttpApp
  let handle: TestDatabase
  let db: ContextDb
  const stored: unknown[] = []
  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
    db = await handle.database.openContext('validation', [
      migration('0001_init.sql', 'CREATE TABLE notes (body text NOT NULL, meta jsonb)'),
    ])
    app = await createHttpApp({
      log: createLogger({ level: 'silent' }),
      title: 't',
      version: '1',
      readiness: [],
    })
    const Thing = Type.Object(
      {
        name: Type.String(),
        tags: Type.Optional(Type.Array(Type.String())),
        env: Type.Optional(Type.Record(Type.String(), Type.String())),
        spec: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false },
    )
    app.post(
      '/things/:thingId',
      {
        schema: {
          params: Type.Object({ thingId: Type.String() }),
          querystring: Type.Object({ note: Type.Optional(Type.String()) }),
          body: Thing,
        },
      },
      async (request, reply) => {
        stored.push(request.body)
        return reply.code(201).send({ ok: true })
      },
    )
    app.get(
      '/pages',
      { schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1 }), all: Type.Boolean() }) } },
      async (request) => request.query,
    )
    app.post(
      '/counters',
      {
        schema: {
          body: Type.Object({ count: Type.Integer(), on: Type.Boolean() }, { additionalProperties: false }),
        },
      },
      async (request) => request.body,
    )
    // No schema for its body: what it is given reaches the database as it is.
    app.post('/notes', async (request, reply) => {
      const { body, meta } = request.body as { body: string; meta?: unknown }
      await db.query('INSERT INTO notes (body, meta) VALUES ($1, $2)', [body, meta ?? null])
      return reply.code(201).send({ ok: true })
    })
    await app.ready()
  })
  afterAll(async () => {
    await app?.close()
    await handle?.dispose()
  })

  const post = (url: string, payload: unknown) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    })

  it.each([
    ['a field', { name: `a${nul}b` }, '/things/t1', '/body/name'],
    ['an array item', { name: 'a', tags: ['ok', `x${nul}`] }, '/things/t1', '/body/tags/1'],
    ['a record value', { name: 'a', env: { KEY: `v${nul}` } }, '/things/t1', '/body/env/KEY'],
    ['a record key', { name: 'a', env: { [`K${nul}`]: 'v' } }, '/things/t1', '/body/env/K\\u0000'],
    ['a free-form value', { name: 'a', spec: { deep: [{ x: nul }] } }, '/things/t1', '/body/spec/deep/0/x'],
    ['a path parameter', { name: 'a' }, '/things/t%00', '/params/thingId'],
    ['a query parameter', { name: 'a' }, '/things/t1?note=%00', '/querystring/note'],
  ])('refuses a NUL character in %s with 400 naming it', async (_what, payload, url, path) => {
    const before = stored.length
    const res = await post(url, payload)
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = res.json()
    expect(problem.errors).toContainEqual({ path, message: expect.stringMatching(/NUL/) })
    expect(problem.detail).toContain(path)
    expect(stored.length).toBe(before)
  })

  it('reports a NUL character beside the schema violations of the same request', async () => {
    const res = await post('/things/t1', { name: nul, tags: [{}] })
    expect(res.statusCode).toBe(400)
    expect(
      res
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['/body/name', '/body/tags/0'])
  })

  it('walks a deeply nested body without overflowing the stack', async () => {
    const depth = 50_000
    const deep = `${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}`
    const res = await app.inject({
      method: 'POST',
      url: '/things/t1',
      headers: { 'content-type': 'application/json' },
      payload: `{"name":"a","spec":${deep}}`,
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors[0].path).toMatch(/^\/body\/spec(\/0)+\/?…$/)
  })

  it('accepts the same request without the NUL character', async () => {
    const res = await post('/things/t1?note=fine', {
      name: 'a',
      tags: ['x'],
      env: { K: 'v' },
      spec: { deep: [] },
    })
    expect(res.statusCode).toBe(201)
  })

  it('refuses unknown fields of a body whose schema allows none, naming each', async () => {
    const before = stored.length
    const res = await post('/things/t1', { name: 'a', colour: 'red', extra: 1 })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = res.json()
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { path: '/body/colour', message: 'is not a field of this request' },
        { path: '/body/extra', message: 'is not a field of this request' },
      ]),
    )
    expect(problem.detail).toContain('/body/colour')
    expect(stored.length).toBe(before)
    // thousands of them: the first few, and how many more
    const many = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i]))
    const flood = (await post('/things/t1', { name: 'a', ...many })).json()
    expect(flood.errors).toHaveLength(50)
    expect(flood.detail).toMatch(/\(and 1950 more\)$/)
  })

  it('names a missing field by its own path', async () => {
    const res = await post('/things/t1', { tags: [] })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors).toContainEqual({ path: '/body/name', message: 'is required' })
  })

  it('takes a body as it is typed: no string for a number, no number for a string', async () => {
    const before = stored.length
    const named = await post('/things/t1', { name: 5 })
    expect(named.statusCode).toBe(400)
    expect(named.json().errors).toContainEqual({ path: '/body/name', message: 'must be string' })
    const counted = await post('/counters', { count: '5', on: 'true' })
    expect(counted.statusCode).toBe(400)
    expect(
      counted
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['/body/count', '/body/on'])
    expect(stored.length).toBe(before)
    expect((await post('/counters', { count: 5, on: true })).json()).toEqual({ count: 5, on: true })
  })

  it("still reads a query string's numbers and booleans from their text", async () => {
    const res = await app.inject({ url: '/pages?limit=5&all=true' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ limit: 5, all: true })
    expect((await app.inject({ url: '/pages?limit=five&all=true' })).statusCode).toBe(400)
  })

  it.each([
    ['a NUL character in text', { body: `a${nul}b` }],
    ['a NUL character in JSON', { body: 'a', meta: { x: `a${nul}b` } }],
  ])('answers a value the database refuses (%s) with 400, not 500', async (_what, payload) => {
    const res = await post('/notes', payload)
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ code: 'input', detail: expect.stringMatching(/cannot be stored/) })
    const { rows } = await db.query('SELECT count(*)::int AS n FROM notes')
    expect(rows[0]).toEqual({ n: 0 })
  })
})

describe('deferred compilations', () => {
  it('compile once, on first use or when compileAll reaches them, and report what fails with its route', async () => {
    const deferred = createDeferredCompilations()
    let compiled = 0
    const first = deferred.defer('GET /a (body)', () => ++compiled)
    deferred.defer('GET /b (body)', () => ++compiled)
    deferred.defer('GET /c (body)', () => {
      throw new Error('no such schema')
    })
    expect([deferred.size, compiled]).toEqual([3, 0])
    expect(first()).toBe(1)
    expect(first()).toBe(1)
    expect([deferred.size, compiled]).toEqual([2, 1])
    const failures = await deferred.compileAll()
    expect(failures).toEqual([{ route: 'GET /c (body)', error: new Error('no such schema') }])
    expect([deferred.size, compiled]).toEqual([0, 2])
  })
})
