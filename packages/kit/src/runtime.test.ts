import { catalog } from '@rxt/contracts'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresLog } from './bus/postgres-log.ts'
import { CoreConfig, parseConfig } from './config.ts'
import { type ContextDefinition, defineContext } from './context.ts'
import { type Database, openDatabase } from './db/index.ts'
import { migration } from './db/migrations.ts'
import { createLogger } from './log.ts'
import { startRuntime } from './runtime.ts'
import { until } from './testing/bus.ts'
import { dbTargets, type TestDatabase } from './testing/index.ts'

const config = parseConfig(CoreConfig, { PORT: '0' })
const log = createLogger({ level: 'silent' })

/** Starts contexts the way `rxt-deploy up` does: on `database`, with the Postgres log as the bus. */
const startOn = async (
  database: Database,
  contexts: ContextDefinition[],
  version = '1',
  background: 'at-start' | 'after-listen' = 'at-start',
) =>
  startRuntime({
    contexts,
    config,
    log,
    database,
    transport: await createPostgresLog({ database }),
    catalog,
    mode: 'embedded',
    version,
    background,
  })

function counterContext(name: string, events: string[]) {
  return defineContext({
    name,
    migrations: [migration('0001_init.sql', 'CREATE TABLE hits (n int NOT NULL)')],
    routes: (app, { db }) => {
      app.post(
        `/${name}/hits`,
        {
          config: { auth: { public: 'a test counter' } },
          schema: {
            body: Type.Object({ n: Type.Integer() }),
            response: { 201: Type.Object({ total: Type.Integer() }) },
          },
        },
        async (request, reply) => {
          await db.query('INSERT INTO hits VALUES ($1)', [request.body.n])
          const { rows } = await db.query<{ total: number }>('SELECT sum(n)::int AS total FROM hits')
          return reply.code(201).send({ total: rows[0]?.total ?? 0 })
        },
      )
    },
    start: ({ db, name: own }) => {
      events.push(`start ${own} as ${db.role}`)
    },
    stop: ({ name: own }) => {
      events.push(`stop ${own}`)
    },
  })
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`runtime on ${target.name}`, () => {
    let handle: TestDatabase
    beforeAll(async () => {
      handle = await target.create()
    })
    afterAll(() => handle?.dispose())

    it('migrates, mounts routes under /v1 tagged with the context, starts in order and stops in reverse', async () => {
      const events: string[] = []
      const runtime = await startOn(
        handle.database,
        [counterContext('first', events), counterContext('second', events)],
        '9.9.9',
      )
      await runtime.app.inject({ method: 'POST', url: '/v1/first/hits', payload: { n: 2 } })
      const res = await runtime.app.inject({ method: 'POST', url: '/v1/first/hits', payload: { n: 3 } })
      expect(res.statusCode).toBe(201)
      expect(res.json()).toEqual({ total: 5 })
      const other = await runtime.app.inject({ method: 'POST', url: '/v1/second/hits', payload: { n: 1 } })
      expect(other.json()).toEqual({ total: 1 })
      const doc = runtime.app.swagger() as { paths: Record<string, { post?: { tags?: string[] } }> }
      expect(doc.paths['/v1/first/hits']?.post?.tags).toEqual(['first'])
      expect(doc.paths['/v1/second/hits']?.post?.tags).toEqual(['second'])
      expect(runtime.info).toMatchObject({
        version: '9.9.9',
        contexts: ['first', 'second'],
        database: target.name,
      })
      await runtime.stop()
      expect(events).toEqual([
        'start first as rxt_first',
        'start second as rxt_second',
        'stop second',
        'stop first',
      ])
    }, 60_000)

    it('stops what it started when a later context fails to start', async () => {
      const events: string[] = []
      const failing = defineContext({
        name: 'failing',
        start: () => {
          throw new Error('cannot start')
        },
      })
      await expect(startOn(handle.database, [counterContext('third', events), failing])).rejects.toThrow(
        'cannot start',
      )
      expect(events).toEqual(['start third as rxt_third', 'stop third'])
    })

    it('refuses to start a context with a route that does not say who may call it (default deny)', async () => {
      const open = defineContext({
        name: 'open',
        routes: (app) => {
          app.get('/open/door', async () => ({ ok: true }))
        },
      })
      await expect(startOn(handle.database, [open])).rejects.toThrow(
        'route GET /v1/open/door does not declare config.auth',
      )
    })
  })
}

describe('runtime readiness', () => {
  it('answers /readyz 503 once the database is gone', async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    const runtime = await startOn(database, [])
    const ready = await runtime.app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ok', checks: { database: 'ok', bus: 'ok' } })
    await database.close()
    const res = await runtime.app.inject({ url: '/readyz' })
    expect(res.statusCode).toBe(503)
    // The Postgres log lives in the same database: both are down.
    expect(res.json()).toMatchObject({ code: 'unavailable', detail: 'not ready: bus, database unavailable' })
    await runtime.stop()
  })
})

/** A runtime on a fresh PGlite whose background work waits for `listen`, as `up` starts one. */
const startAfterListen = async (contexts: ContextDefinition[]) => {
  const database = await openDatabase({ kind: 'pglite' }, log)
  return { runtime: await startOn(database, contexts, '1', 'after-listen'), database }
}

describe('a runtime whose background work starts once it listens', () => {
  it('answers /healthz at once and /readyz 503 until its consumers and jobs run, and a job runs only then', async () => {
    const turns: string[] = []
    const jobs = defineContext({
      name: 'jobs',
      jobs: () => [
        { name: 'tick', everyMs: 60_000, atStart: true, run: async () => void turns.push('tick') },
      ],
    })
    const { runtime, database } = await startAfterListen([jobs])
    try {
      expect((await runtime.app.inject({ url: '/healthz' })).statusCode).toBe(200)
      const starting = await runtime.app.inject({ url: '/readyz' })
      expect(starting.statusCode).toBe(503)
      expect(starting.json()).toMatchObject({ detail: 'not ready: bus unavailable' })
      expect(turns).toEqual([])
      await runtime.listen()
      expect(turns).toEqual(['tick'])
      const ready = await runtime.app.inject({ url: '/readyz' })
      expect(ready.statusCode).toBe(200)
      expect(ready.json()).toEqual({ status: 'ok', checks: { database: 'ok', bus: 'ok' } })
    } finally {
      await runtime.stop()
      await database.close()
    }
  })
})

describe("a context's ready work", () => {
  const start = (ready: () => Promise<void>) => startAfterListen([defineContext({ name: 'warming', ready })])

  it('runs once the port is open, before the consumers start and before /readyz answers', async () => {
    const order: string[] = []
    let finish: () => void = () => undefined
    const { runtime, database } = await start(
      () =>
        new Promise<void>((resolve) => {
          order.push('ready began')
          finish = () => {
            order.push('ready ended')
            resolve()
          }
        }),
    )
    try {
      expect(order).toEqual([])
      const listening = runtime.listen().then(() => order.push('listening'))
      await until(() => order.includes('ready began'))
      expect((await runtime.app.inject({ url: '/healthz' })).statusCode).toBe(200)
      expect((await runtime.app.inject({ url: '/readyz' })).statusCode).toBe(503)
      finish()
      await listening
      expect(order).toEqual(['ready began', 'ready ended', 'listening'])
      expect((await runtime.app.inject({ url: '/readyz' })).statusCode).toBe(200)
    } finally {
      await runtime.stop()
      await database.close()
    }
  })

  it('that fails makes listen fail, and the process never ready', async () => {
    const { runtime, database } = await start(async () => {
      throw new Error('the shipped bundle does not load')
    })
    try {
      await expect(runtime.listen()).rejects.toThrow('the shipped bundle does not load')
      expect((await runtime.app.inject({ url: '/readyz' })).statusCode).toBe(503)
    } finally {
      await runtime.stop()
      await database.close()
    }
  })
})

describe('runtime sites', () => {
  it("mounts a context's site at the root, unguarded, beside its guarded /v1 routes", async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    const withSite = defineContext({
      name: 'web',
      routes: (app) => {
        app.get('/web/private', { config: { auth: { authenticated: true } } }, async () => ({ ok: true }))
      },
      site: (app, { name }) => {
        app.get('/', { config: { auth: { public: 'a static page' } } }, async () => `hello from ${name}`)
      },
    })
    const runtime = await startOn(database, [withSite])
    const page = await runtime.app.inject({ url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.body).toBe('hello from web')
    // The site's routes are outside /v1; the context's own routes stay guarded there.
    expect((await runtime.app.inject({ url: '/v1/' })).statusCode).toBe(404)
    expect((await runtime.app.inject({ url: '/v1/web/private' })).statusCode).toBe(401)
    await runtime.stop()
    await database.close()
  })

  it("registers every site after every context's /v1 routes, a later context's included", async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    let seen: boolean | undefined
    const first = defineContext({
      name: 'first',
      site: (app) => {
        seen = app.hasRoute({ method: 'GET', url: '/v1/second/thing' })
      },
    })
    const second = defineContext({
      name: 'second',
      routes: (app) => {
        app.get('/second/thing', { config: { auth: { public: 'a test route' } } }, async () => ({ ok: true }))
      },
    })
    const runtime = await startOn(database, [first, second])
    expect(seen).toBe(true)
    await runtime.stop()
    await database.close()
  })
})

describe('runtime refuses', () => {
  it('a context listed twice, and a handler of a type the catalog does not have', async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    const a = defineContext({ name: 'a' })
    await expect(startOn(database, [a, a])).rejects.toThrow('context a is listed twice')
    const h = defineContext({
      name: 'h',
      handlers: () => [{ id: 'h1', types: ['evt.no.such.thing'], handle: async () => {} }],
    })
    await expect(startOn(database, [h])).rejects.toThrow(
      'h.h1 subscribes to unknown types: evt.no.such.thing',
    )
    await database.close()
  })
})

describe('runtime jobs', () => {
  it("runs each context's jobs on their interval, one turn at a time, through failures, until the stop", async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    let turns = 0
    let overlapping = 0
    let running = false
    const busy = defineContext({
      name: 'busy',
      jobs: () => [
        {
          name: 'slow',
          everyMs: 10,
          run: async () => {
            if (running) overlapping++
            running = true
            turns++
            await new Promise((resolve) => setTimeout(resolve, 40))
            running = false
            if (turns === 2) throw new Error('a failing turn')
          },
        },
      ],
    })
    const runtime = await startOn(database, [busy])
    while (turns < 4) await new Promise((resolve) => setTimeout(resolve, 20))
    await runtime.stop()
    const after = turns
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(overlapping).toBe(0)
    expect(turns).toBe(after)
    await database.close()
  })

  it('runs a job marked atStart once as the runtime starts, then on its interval', async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    const at: number[] = []
    const eager = defineContext({
      name: 'eager',
      jobs: () => [
        { name: 'probe', everyMs: 60_000, atStart: true, run: async () => void at.push(Date.now()) },
      ],
    })
    const runtime = await startOn(database, [eager])
    while (at.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    await runtime.stop()
    expect(at).toHaveLength(1)
    await database.close()
  })
})
