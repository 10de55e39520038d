import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { isDeepStrictEqual } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import type { Envelope, MessageCatalog } from '@rxt/contracts'
import { inject } from 'vitest'
import type { Bus, PublishInput } from '../bus/bus.ts'
import { createNatsTransport } from '../bus/nats.ts'
import { createPostgresLog } from '../bus/postgres-log.ts'
import type { Transport } from '../bus/transport.ts'
import type { ContextDb, Database } from '../db/index.ts'
import { loadMigrations } from '../db/index.ts'
import { createLogger } from '../log.ts'
import { type DbTarget, dbTargets, type TestDatabase } from './index.ts'

const silent = createLogger({ level: 'silent' })

export interface TransportTarget {
  readonly name: string
  /** Why this target is skipped in this run, or undefined when it runs. */
  readonly skipped: string | undefined
  /**
   * A fresh database for the contexts and a transport factory on it (call it once per simulated
   * process); dispose drops the database and, on NATS, the run's streams.
   */
  create(): Promise<TransportFixture>
}

export interface TransportFixture {
  readonly database: Database
  newTransport(): Promise<Transport>
  dispose(): Promise<void>
}

/**
 * The transports a bus suite runs against: the Postgres log on PGlite and on PostgreSQL, and NATS
 * JetStream (contexts on PGlite), each isolated per fixture (a fresh database; a NATS namespace).
 */
export function transportTargets(): TransportTarget[] {
  const [pglite, postgres] = dbTargets() as [DbTarget, DbTarget]
  const natsUrl = inject('natsUrl')
  const natsReason = inject('natsSkipReason')
  const logOn = (target: DbTarget): TransportTarget => ({
    name: `postgres-log on ${target.name}`,
    skipped: target.skipped,
    create: async (): Promise<TransportFixture> => {
      const db: TestDatabase = await target.create()
      const transports: Transport[] = []
      return {
        database: db.database,
        newTransport: async () => {
          const t = await createPostgresLog({ database: db.database, pollMs: 25 })
          transports.push(t)
          return t
        },
        dispose: async () => {
          await Promise.all(transports.map((t) => t.close()))
          await db.dispose()
        },
      }
    },
  })
  return [
    logOn(pglite),
    logOn(postgres),
    {
      name: 'nats',
      skipped: natsReason === '' ? undefined : natsReason,
      create: async () => {
        const db = await pglite.create()
        const namespace = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`
        const transports: Transport[] = []
        return {
          database: db.database,
          newTransport: async () => {
            const t = await createNatsTransport({ url: natsUrl, namespace, log: silent })
            transports.push(t)
            return t
          },
          dispose: async () => {
            await Promise.all(transports.map((t) => t.close().catch(() => undefined)))
            await deleteStreams(natsUrl, namespace)
            await db.dispose()
          },
        }
      },
    },
  ]
}

/** Removes the streams of one namespace (a test or benchmark run's). */
export async function deleteStreams(url: string, namespace: string): Promise<void> {
  const nc = await connect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    const prefix = `${namespace}_`.toUpperCase()
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(prefix)) await jsm.streams.delete(name)
    }
  } finally {
    await nc.close()
  }
}

/** Polls `probe` until it holds; fails after `ms`, naming what it waited for. */
export async function until(
  probe: () => Promise<boolean> | boolean,
  ms = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(25)
  }
}

/** Opens a context's schema with the bus tables (and its own migrations from a directory or a list). */
export async function openBusContext(
  database: Database,
  name: string,
  migrations: Parameters<Database['openContext']>[1] = [],
): Promise<ContextDb> {
  const kitMigrations = await loadMigrations(new URL('../migrations/context/', import.meta.url))
  return database.openContext(name, migrations, { kitMigrations })
}

export interface BusHarness {
  /** Publishes `type` with its catalog fixture (or `data`) from the harness context. */
  publish<D>(type: string, overrides?: Partial<PublishInput<D>>): Promise<Envelope<D>>
  /**
   * Resolves with the first message of `type` whose envelope matches `match` (a deep partial), waiting
   * up to `timeoutMs`; rejects with what did arrive, so that a failure shows the difference.
   */
  expectMessage(type: string, match?: Record<string, unknown>, timeoutMs?: number): Promise<Envelope>
  /** Every message of the watched types received so far. */
  readonly received: readonly Envelope[]
}

const matches = (value: unknown, pattern: unknown): boolean => {
  if (pattern === null || typeof pattern !== 'object') return isDeepStrictEqual(value, pattern)
  if (value === null || typeof value !== 'object') return false
  if (Array.isArray(pattern)) return isDeepStrictEqual(value, pattern)
  return Object.entries(pattern).every(([k, v]) => matches((value as Record<string, unknown>)[k], v))
}

/**
 * A test context on a bus: publish a fixture, then await the messages it causes. Attach it before
 * `bus.start()`; it watches `types`.
 */
export async function createBusHarness(options: {
  readonly bus: Bus
  readonly database: Database
  readonly catalog: MessageCatalog
  readonly watch: readonly string[]
  readonly context?: string
}): Promise<BusHarness> {
  const context = options.context ?? 'harness'
  const db = await openBusContext(options.database, context)
  const contextBus = options.bus.attach(context, db)
  const received: Envelope[] = []
  const waiters = new Set<() => void>()
  if (options.watch.length > 0) {
    await options.bus.subscribe(context, [
      {
        id: 'watch',
        types: options.watch,
        handle: async (message) => {
          received.push(message)
          for (const wake of waiters) wake()
        },
      },
    ])
  }
  return {
    received,
    publish: <D>(type: string, overrides: Partial<PublishInput<D>> = {}) => {
      const contract = options.catalog.messages.get(type)
      if (contract === undefined) throw new Error(`no message type ${type} in the catalog`)
      return db.transaction((tx) =>
        contextBus.publish<D>(tx, {
          type,
          data: contract.fixture as D,
          tenantId: 'tenant-test',
          ...overrides,
        }),
      )
    },
    expectMessage: (type, match = {}, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find((m) => m.type === type && matches(m, match))
          if (found === undefined) return false
          cleanup()
          resolve(found)
          return true
        }
        const timer = setTimeout(() => {
          cleanup()
          const ofType = received.filter((m) => m.type === type)
          reject(
            new Error(
              `no ${type} matching ${JSON.stringify(match, null, 2)} within ${timeoutMs} ms; received ${ofType.length} of that type:\n${ofType
                .map((m) => JSON.stringify(m, null, 2))
                .join(
                  '\n',
                )}\nother types received: ${[...new Set(received.map((m) => m.type))].join(', ') || 'none'}`,
            ),
          )
        }, timeoutMs)
        const wake = () => void check()
        const cleanup = () => {
          clearTimeout(timer)
          waiters.delete(wake)
        }
        waiters.add(wake)
        check()
      }),
  }
}
