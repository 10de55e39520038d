import { catalog } from '@rxt/contracts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Principal } from '../auth/access.ts'
import { CoreConfig, parseConfig } from '../config.ts'
import { defineContext } from '../context.ts'
import { type ContextDb, type Database, openDatabase } from '../db/index.ts'
import { migration } from '../db/migrations.ts'
import { AuthenticationError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { type Runtime, startRuntime } from '../runtime.ts'
import { createBusHarness, until } from '../testing/bus.ts'
import { createPostgresLog } from './postgres-log.ts'

const log = createLogger({ level: 'silent' })
const config = parseConfig(CoreConfig, { PORT: '0', BUS_MAX_DELIVERIES: '2', BUS_RETRY_BASE_MS: '10' })
const type = 'evt.project.created'

/** A context whose handler fails while `failing` is set, and records what it handled. */
function projects(state: { failing: boolean; handled: string[]; db?: ContextDb }) {
  return defineContext({
    name: 'projects',
    start: (deps) => {
      state.db = deps.db
    },
    migrations: [migration('0001_seen.sql', 'CREATE TABLE seen (id uuid PRIMARY KEY)')],
    handlers: () => [
      {
        id: 'index',
        types: [type],
        handle: async (message, { tx }) => {
          if (state.failing) throw new Error('index is down')
          await tx.query('INSERT INTO seen VALUES ($1) ON CONFLICT DO NOTHING', [message.id])
          state.handled.push(message.id)
        },
      },
    ],
  })
}

/** Callers of this suite: an operator and a tenant's user, by token (the identity context is not under test). */
const callers = defineContext({
  name: 'callers',
  authenticator: () => ({
    authenticate: async (header: string): Promise<Principal> => {
      const token = header.replace(/^Bearer /, '')
      if (token !== 'operator' && token !== 'tenant') throw new AuthenticationError('unknown token')
      return { kind: 'user', id: token, userId: token, operator: token === 'operator', orgs: new Map() }
    },
  }),
})
const asOperator = { authorization: 'Bearer operator' }

describe('bus admin routes and the test harness (embedded: PGlite and the Postgres log)', () => {
  const state: { failing: boolean; handled: string[]; db?: ContextDb } = { failing: true, handled: [] }
  let database: Database
  let runtime: Runtime

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite' }, log)
    runtime = await startRuntime({
      contexts: [callers, projects(state)],
      config,
      log,
      database,
      transport: await createPostgresLog({ database, pollMs: 25 }),
      catalog,
      mode: 'embedded',
      version: '1',
    })
  })
  afterAll(async () => {
    await runtime?.stop()
    await database?.close()
  })

  it('answers 401 without credentials and 403 to anyone but a platform operator', async () => {
    const anonymous = await runtime.app.inject({ url: '/v1/admin/dead-letters' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.headers['content-type']).toMatch(/problem\+json/)
    const forged = await runtime.app.inject({
      url: '/v1/admin/consumers',
      headers: { authorization: 'Bearer x' },
    })
    expect(forged.statusCode).toBe(401)
    const tenant = await runtime.app.inject({
      method: 'POST',
      url: '/v1/admin/consumers/projects.index/replay',
      headers: { authorization: 'Bearer tenant' },
      payload: { fromSeq: 1 },
    })
    expect(tenant.statusCode).toBe(403)
  })

  it('lists a dead letter, refuses a replay that fails again, then replays it', async () => {
    const harness = await createBusHarness({ bus: runtime.bus, database, catalog, watch: [] })
    const sent = await harness.publish(type)

    let items: { id: string; messageId: string; error: string; deliveries: number }[] = []
    await until(
      async () => {
        items = (await runtime.app.inject({ url: '/v1/admin/dead-letters', headers: asOperator })).json()
          .items
        return items.length > 0
      },
      5_000,
      'a dead letter',
    )
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ messageId: sent.id, error: 'Error: index is down', deliveries: 2 })
    const id = items[0]?.id as string

    const again = await runtime.app.inject({
      method: 'POST',
      url: `/v1/admin/dead-letters/${id}/replay`,
      headers: asOperator,
    })
    expect(again.statusCode).toBe(409)
    expect(again.headers['content-type']).toContain('application/problem+json')
    expect(again.json().detail).toContain('index is down')

    state.failing = false
    const replayed = await runtime.app.inject({
      method: 'POST',
      url: `/v1/admin/dead-letters/${id}/replay`,
      headers: asOperator,
    })
    expect(replayed.statusCode).toBe(200)
    expect(replayed.json()).toMatchObject({ id, replays: 2 })
    expect(state.handled).toEqual([sent.id])
    expect(
      (await runtime.app.inject({ url: '/v1/admin/dead-letters', headers: asOperator })).json().items,
    ).toEqual([])

    const missing = await runtime.app.inject({
      headers: asOperator,
      method: 'POST',
      url: '/v1/admin/dead-letters/01890000-0000-7000-8000-000000000000/replay',
    })
    expect(missing.statusCode).toBe(404)
  })

  it('shows consumers with their lag and rewinds one', async () => {
    const list = await runtime.app.inject({ url: '/v1/admin/consumers', headers: asOperator })
    expect(list.json().items).toEqual([
      { consumer: 'projects.index', context: 'projects', types: [type], lag: 0 },
    ])

    const neither = await runtime.app.inject({
      headers: asOperator,
      method: 'POST',
      url: '/v1/admin/consumers/projects.index/replay',
      payload: {},
    })
    expect(neither.statusCode).toBe(400)
    const unknown = await runtime.app.inject({
      headers: asOperator,
      method: 'POST',
      url: '/v1/admin/consumers/nobody.here/replay',
      payload: { fromSeq: 1 },
    })
    expect(unknown.statusCode).toBe(404)
    // A replay the transport refuses (a point past the end of the log) leaves the consumer as it was:
    // the same generation (a new one would handle again what the inbox has seen) and replay point.
    const consumer = async () =>
      (
        await state.db?.query(
          'SELECT generation, replayed_at, replay_from_seq, replay_from_time FROM rxt_consumers WHERE consumer = $1',
          ['projects.index'],
        )
      )?.rows
    const unreplayed = await consumer()
    expect(unreplayed).toHaveLength(1)
    const refused = await runtime.app.inject({
      headers: asOperator,
      method: 'POST',
      url: '/v1/admin/consumers/projects.index/replay',
      payload: { fromSeq: 1_000_000 },
    })
    expect(refused.statusCode).toBe(400)
    expect(await consumer()).toEqual(unreplayed)

    const before = state.handled.length
    const rewind = await runtime.app.inject({
      headers: asOperator,
      method: 'POST',
      url: '/v1/admin/consumers/projects.index/replay',
      payload: { fromSeq: 1 },
    })
    expect(rewind.statusCode).toBe(202)
    // The message is in the log from sequence 1 on: a new generation handles it again.
    await until(() => state.handled.length > before, 5_000, 'the replayed message')
    expect(state.handled).toHaveLength(before + 1)
    expect(state.handled[before]).toBe(state.handled[0])
    const metrics = await runtime.app.inject({ url: '/metrics' })
    expect(metrics.body).toMatch(/rxt_bus_delivered_total\{consumer="projects.index"[^}]*\} [1-9]/)
    expect(metrics.body).toContain('rxt_bus_relay_lag_seconds')
    expect(metrics.body).toContain('rxt_bus_consumer_lag')
  })

  it('the harness awaits a message, and says what did arrive when none matches', async () => {
    const harness = await createBusHarness({
      bus: runtime.bus,
      database,
      catalog,
      watch: ['evt.project.updated'],
      context: 'watcher',
    })
    const sent = await harness.publish('evt.project.updated', { key: 'p-1' })
    const got = await harness.expectMessage('evt.project.updated', { id: sent.id, key: 'p-1' })
    expect(got.data).toEqual(catalog.messages.get('evt.project.updated')?.fixture)
    await expect(harness.expectMessage('evt.project.updated', { key: 'p-2' }, 300)).rejects.toThrow(
      /no evt\.project\.updated matching[\s\S]*"key": "p-2"[\s\S]*received 1 of that type[\s\S]*"key": "p-1"/,
    )
  })
})
