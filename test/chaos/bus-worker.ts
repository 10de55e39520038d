// One process of the process-kill fault test (process-kill.test.ts), started by it with the JSON of a
// `WorkerConfig` as its argument: a producer that writes messages in many small transactions while its
// relay runs, a relay alone, or a consumer. It says what it does as JSON lines on standard output (the
// bus's own warnings go to standard error). The test kills it with SIGKILL where it wants, or ends it
// with SIGTERM: the bus then stops as it does in production, and the worker prints its metrics.
import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { catalog } from '@rxt/contracts'
import {
  type ContextBus,
  type ContextDb,
  createBus,
  createLogger,
  createNatsTransport,
  createPostgresLog,
  type Database,
  loadMigrations,
  type MessageHandler,
  migration,
  openDatabase,
  systemClock,
  type Transport,
} from '@rxt/kit'
import { Registry } from 'prom-client'

/** The message every worker sends and takes. */
export const messageType = 'evt.project.created'

/** What the producer records with each message, in the transaction that writes it to the outbox. */
export const producerMigrations = [
  migration(
    '0001_sent.sql',
    'CREATE TABLE sent (message_id uuid PRIMARY KEY, key text NOT NULL, seq integer NOT NULL, n bigserial)',
  ),
]

/**
 * What a consumer's handler writes in its transaction: a row per message, in the order of handling
 * (`n`), by which process (`worker`) in which transaction (`tx`, the top-level one: a message runs under
 * a savepoint of its group's), and for a slow message how many other keys' messages had been handled
 * when it started and when it was done.
 */
export const consumerMigrations = [
  migration(
    '0001_effects.sql',
    `CREATE TABLE effects (
       n bigserial PRIMARY KEY,
       handler text NOT NULL,
       message_id uuid NOT NULL,
       key text NOT NULL,
       seq integer NOT NULL,
       worker text NOT NULL,
       deliveries integer NOT NULL,
       others_before integer,
       others_after integer,
       tx bigint NOT NULL DEFAULT txid_current()
     )`,
  ),
]

/** The key of the `seq`-th message of key number `i`. */
export const keyOf = (i: number) => `k${String(i).padStart(2, '0')}`

/** The payload of a key's `seq`-th message: the catalog's fixture, carrying the key and the sequence number. */
export const payloadOf = (key: string, seq: number) => ({
  ...(catalog.messages.get(messageType)?.fixture as Record<string, unknown>),
  slug: `${key}-${seq}`,
  name: `chaos ${key} #${seq}`,
})

/** The per-key sequence number a payload carries. */
export const seqOf = (data: unknown) =>
  Number(
    String((data as { slug: string }).slug)
      .split('-')
      .pop(),
  )

export type WorkerTransport =
  | { readonly kind: 'postgres-log' }
  | { readonly kind: 'nats'; readonly url: string; readonly namespace: string }

interface Common {
  /** Names this process in what it writes (the effects' `worker`, the outside log). */
  readonly label: string
  readonly databaseUrl: string
  readonly transport: WorkerTransport
  readonly ackWaitMs: number
}

export type WorkerConfig =
  | (Common & {
      readonly role: 'produce'
      readonly keys: number
      readonly perKey: number
      /** Messages per transaction. */
      readonly perTx: number
      /** Writers at the same time, each owning its share of the keys (so each key is written in order). */
      readonly writers: number
      /**
       * Once the transport has stored this many messages, the relay's publish stalls after the transport
       * stored its batch and before the relay deletes those rows: the test kills the process there.
       */
      readonly stallAfter: number
    })
  | (Common & { readonly role: 'relay' })
  | (Common & {
      readonly role: 'consume'
      /** The handler id: each case has a durable consumer of its own. */
      readonly handler: string
      /** The file the handler appends a line to before its transaction's writes (the outside effect). */
      readonly outsideLog: string
      /** A pause in every message's handler, so that a batch's transaction lasts a while. */
      readonly handleMs: number
      /** This key's `seq`-th message says so on standard output, then waits `ms` in its transaction. */
      readonly pauseAt?: { readonly key: string; readonly seq: number; readonly ms: number }
      /**
       * This key's first `upTo` messages each take at least `ms` (longer than the ack wait), and the first
       * waits (at most `ms` more) until it sees another key's message handled meanwhile.
       */
      readonly slow?: { readonly key: string; readonly upTo: number; readonly ms: number }
    })

const say = (event: Record<string, unknown>) => {
  // Standard output is a pipe: written synchronously, so that what is said is out before a SIGKILL.
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

const kitMigrations = () =>
  loadMigrations(new URL('../../packages/kit/src/migrations/context/', import.meta.url))

const openTransport = (config: WorkerConfig, database: Database): Promise<Transport> =>
  config.transport.kind === 'postgres-log'
    ? createPostgresLog({ database, pollMs: 25 })
    : createNatsTransport({
        url: config.transport.url,
        namespace: config.transport.namespace,
        log: createLogger({ level: 'warn', destination: process.stderr }),
        publishTimeoutMs: 5_000,
      })

/** The transport as a relay sees it that stalls, once `after` messages are stored, between storing and returning. */
const stalling = (real: Transport, after: number): Transport => {
  let stored = 0
  return {
    ...real,
    publish: async (messages) => {
      await real.publish(messages)
      stored += messages.length
      say({ event: 'relayed', stored })
      if (stored >= after) {
        say({ event: 'stalled', stored, inFlight: messages.map((m) => m.id) })
        await new Promise(() => {})
      }
    },
  }
}

/** Writes `keys × perKey` messages, `perTx` to a transaction, each with its row in `sent`. */
async function produce(
  config: Extract<WorkerConfig, { role: 'produce' }>,
  db: ContextDb,
  publishAll: ContextBus['publishAll'],
) {
  const writer = async (w: number) => {
    const keys = Array.from({ length: config.keys }, (_, i) => keyOf(i)).filter(
      (_, i) => i % config.writers === w,
    )
    const mine: { key: string; seq: number }[] = []
    for (let seq = 1; seq <= config.perKey; seq++) for (const key of keys) mine.push({ key, seq })
    for (let i = 0; i < mine.length; i += config.perTx) {
      const chunk = mine.slice(i, i + config.perTx)
      await db.transaction(async (tx) => {
        const envelopes = await publishAll(
          tx,
          chunk.map(({ key, seq }) => ({ type: messageType, data: payloadOf(key, seq), tenantId: 't', key })),
        )
        await tx.query(
          'INSERT INTO sent (message_id, key, seq) SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[])',
          [envelopes.map((e) => e.id), chunk.map((c) => c.key), chunk.map((c) => c.seq)],
        )
      })
    }
  }
  await Promise.all(Array.from({ length: config.writers }, (_, w) => writer(w)))
  say({ event: 'written', messages: config.keys * config.perKey })
}

/** The handler of a consumer worker: an outside effect (a line in a file), then its row in `effects`. */
function handlerOf(config: Extract<WorkerConfig, { role: 'consume' }>): MessageHandler {
  const { label, handler, outsideLog, handleMs, pauseAt, slow } = config
  let slowSeen = 0
  return {
    id: handler,
    types: [messageType],
    handle: async (message, { tx, deliveryCount }) => {
      const key = message.key ?? ''
      const seq = seqOf(message.data)
      appendFileSync(outsideLog, `${label} ${message.id} ${key} ${seq} ${deliveryCount}\n`)
      let othersBefore: number | null = null
      let othersAfter: number | null = null
      const others = async () =>
        Number(
          (
            await tx.query<{ n: string }>(
              'SELECT count(*) AS n FROM effects WHERE handler = $1 AND key <> $2',
              [handler, key],
            )
          ).rows[0]?.n ?? 0,
        )
      if (slow !== undefined && key === slow.key && seq <= slow.upTo) {
        slowSeen++
        othersBefore = await others()
        say({ event: 'slow', seq, othersBefore })
        await sleep(slow.ms)
        othersAfter = await others()
        // The first slow message looks on a while longer when nothing moved: other keys must be handled
        // while it is in hand.
        const deadline = Date.now() + slow.ms
        while (slowSeen === 1 && othersAfter === othersBefore && Date.now() < deadline) {
          await sleep(50)
          othersAfter = await others()
        }
      } else if (handleMs > 0) await sleep(handleMs)
      if (pauseAt !== undefined && key === pauseAt.key && seq === pauseAt.seq) {
        say({ event: 'paused', id: message.id })
        await sleep(pauseAt.ms)
      }
      await tx.query(
        `INSERT INTO effects (handler, message_id, key, seq, worker, deliveries, others_before, others_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [handler, message.id, key, seq, label, deliveryCount, othersBefore, othersAfter],
      )
    },
  }
}

const total = async (registry: Registry, name: string) =>
  ((await registry.getSingleMetric(name)?.get())?.values ?? []).reduce((n, v) => n + v.value, 0)

async function main(config: WorkerConfig) {
  const log = createLogger({ level: 'warn', destination: process.stderr })
  const database = await openDatabase({ kind: 'postgres', url: config.databaseUrl, poolMax: 8 }, log)
  const real = await openTransport(config, database)
  const transport = config.role === 'produce' ? stalling(real, config.stallAfter) : real
  const metrics = new Registry()
  const bus = createBus({
    transport,
    catalog,
    log,
    metrics,
    clock: systemClock,
    maxDeliveries: 5,
    ackWaitMs: config.ackWaitMs,
    backoff: { baseMs: 20, maxMs: 100 },
    relayBatch: 10,
    relayPollMs: 50,
  })
  const kit = await kitMigrations()
  let produced: Promise<void> | undefined
  if (config.role === 'consume') {
    const db = await database.openContext('consumer', consumerMigrations, { kitMigrations: kit })
    bus.attach('consumer', db)
    await bus.subscribe('consumer', [handlerOf(config)])
  } else {
    const db = await database.openContext('producer', producerMigrations, { kitMigrations: kit })
    const ctx = bus.attach('producer', db)
    if (config.role === 'produce') produced = produce(config, db, ctx.publishAll)
  }
  process.once('SIGTERM', () => {
    void (async () => {
      await bus.stop()
      say({
        event: 'stopped',
        delivered: await total(metrics, 'rxt_bus_delivered_total'),
        redelivered: await total(metrics, 'rxt_bus_redelivered_total'),
        duplicates: await total(metrics, 'rxt_bus_duplicates_total'),
        published: await total(metrics, 'rxt_bus_published_total'),
      })
      await real.close().catch(() => undefined)
      await database.close()
      process.exit(0)
    })().catch((error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`)
      process.exit(1)
    })
  })
  await bus.start()
  say({ event: 'ready', pid: process.pid })
  await produced
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(JSON.parse(process.argv[2] ?? '{}') as WorkerConfig).catch((error: unknown) => {
    process.stderr.write(`bus worker failed: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(1)
  })
}
