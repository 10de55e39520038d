import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migration } from '../db/migrations.ts'
import type { ContextDb } from '../db/types.ts'
import { createLogger } from '../log.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { createHttpApp, type HttpApp } from './app.ts'

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
