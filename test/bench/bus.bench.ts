// Events per second and publish-to-handled latency through the bus (outbox → relay → transport → inbox),
// against raw @nats-io/jetstream publish/consume on the same server, measured in the same run.
//   kit over NATS:          contexts on PostgreSQL, transport NATS JetStream (the distributed mode)
//   kit over Postgres log:  contexts and log on PGlite (the embedded default)
// With each run, the database transactions per delivered event, counted in this process per context
// (the handles the bus is given, wrapped): producer (the publishers' own), relay (the rest of the
// producer context's: lease, read, delete), transport (the Postgres log's `bus` context) and consumer
// (inbox, handling, held checks); a statement sent outside a transaction is a transaction of its own.
// On PostgreSQL, pg_stat_database's count for the bench's database is printed beside it. The fair
// bound of the producer side is measured in the same run: 8 concurrent BEGIN; INSERT; COMMIT on the
// same PostgreSQL (a pg Pool of 10).
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { catalog, type Envelope } from '@rxt/contracts'
import {
  type Bus,
  type ContextDb,
  createBus,
  createLogger,
  createNatsTransport,
  createPostgresLog,
  type Database,
  migration,
  openDatabase,
  systemClock,
  type Transaction,
  type Transport,
} from '@rxt/kit'
import { createFreshPostgres } from '@rxt/kit/testing'
import { deleteStreams, openBusContext } from '@rxt/kit/testing/bus'
import pg from 'pg'
import { Registry } from 'prom-client'

const natsUrl = process.env.RXT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222'
const postgresUrl = process.env.RXT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const events = Number(process.env.BENCH_EVENTS ?? 20_000)
const type = 'evt.usage.sample'
const fixture = catalog.messages.get(type)?.fixture
const log = createLogger({ level: 'warn' })

/** Busy and total jiffies of the whole machine (every core), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const total = fields.reduce((a, b) => a + b, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: total - idle, total }
}

interface Result {
  /** Share of the machine's CPU (all cores) busy during the run, 0–1. */
  readonly machineBusy?: number
  /** CPU time of this process per event, in microseconds (both cores counted). */
  readonly cpuUs?: number
  readonly perSecond: number
  readonly p50: number
  readonly p99: number
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN

function summarise(started: number, finished: number, latencies: number[]): Result {
  latencies.sort((a, b) => a - b)
  return {
    perSecond: (latencies.length * 1000) / (finished - started),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  }
}

/** What one context sent the database: transactions (a statement alone counts as one), statements. */
interface DbCounts {
  transactions: number
  statements: number
}

/**
 * `database`, counting per context what its handles send (the real handles do the work). A
 * transaction that sent nothing is not counted: the drivers send no BEGIN for it.
 */
function counting(database: Database) {
  const byContext = new Map<string, DbCounts>()
  /** Statements by context and text (its first words), with BENCH_BUS_STATEMENTS=1. */
  const texts = new Map<string, number>()
  const sentText = (context: string, text: string) => {
    if (!listing) return
    const key = `${context}: ${text.replace(/\s+/g, ' ').trim().slice(0, 100)}`
    texts.set(key, (texts.get(key) ?? 0) + 1)
  }
  const of = (context: string) => {
    const counts = byContext.get(context) ?? { transactions: 0, statements: 0 }
    byContext.set(context, counts)
    return counts
  }
  const wrap = (db: ContextDb): ContextDb => {
    const counts = of(db.context)
    const within =
      <T>(tenant: boolean, fn: (tx: Transaction) => Promise<T>) =>
      async (tx: Transaction) => {
        let sent = tenant
        if (tenant) counts.statements++
        const counted: Transaction = {
          context: tx.context,
          afterCommit: (hook) => tx.afterCommit(hook),
          query: (text, params) => {
            sent = true
            counts.statements++
            sentText(db.context, text)
            return tx.query(text, params)
          },
        }
        try {
          return await fn(counted)
        } finally {
          if (sent) counts.transactions++
        }
      }
    return {
      context: db.context,
      schema: db.schema,
      role: db.role,
      query: (text, params) => {
        counts.transactions++
        counts.statements++
        sentText(db.context, `(alone) ${text}`)
        return db.query(text, params)
      },
      transaction: (fn) => db.transaction(within(false, fn)),
      withTenant: (tenantId, fn) => db.withTenant(tenantId, within(true, fn)),
    }
  }
  const counted: Database = {
    kind: database.kind,
    ping: () => database.ping(),
    close: () => database.close(),
    expect: (contexts) => database.expect(contexts),
    openContext: async (name, migrations, options) =>
      wrap(await database.openContext(name, migrations, options)),
  }
  const snapshot = (): Map<string, DbCounts> => new Map([...byContext].map(([name, c]) => [name, { ...c }]))
  /** The statements sent most since the last call (BENCH_BUS_STATEMENTS=1), per event. */
  const statements = (events: number): string[] => {
    const sorted = [...texts].sort((a, b) => b[1] - a[1]).slice(0, 12)
    texts.clear()
    return sorted.map(([text, n]) => `    ${(n / events).toFixed(3)} ${text}`)
  }
  return { database: counted, snapshot, statements }
}
const listing = process.env.BENCH_BUS_STATEMENTS === '1'

/** What a run cost the database per delivered event, by side. */
interface PerEvent {
  readonly producer: number
  readonly relay: number
  readonly transport: number
  readonly consumer: number
  /** Statements (≈ round trips) of every side. */
  readonly statements: number
  /** pg_stat_database's transactions over the run, where the database is PostgreSQL. */
  readonly pgStat?: number
}

const perEventLine = (e: PerEvent) =>
  `  transactions per event: ${(e.producer + e.relay + e.transport + e.consumer).toFixed(3)} (producer ${e.producer.toFixed(3)}, relay ${e.relay.toFixed(3)}, transport ${e.transport.toFixed(3)}, consumer ${e.consumer.toFixed(3)}); statements per event ${e.statements.toFixed(2)}${e.pgStat === undefined ? '' : `; pg_stat_database: ${e.pgStat.toFixed(3)} transactions per event`}`

/** Committed and rolled-back transactions of the database at `url`, as PostgreSQL's statistics have them. */
async function pgTransactions(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    // Backends report their counts when idle, at most once a second: wait for that, then read afresh.
    await sleep(1_200)
    await client.query('SELECT pg_stat_clear_snapshot()')
    const { rows } = await client.query<{ n: string }>(
      'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()',
    )
    return Number(rows[0]?.n ?? Number.NaN)
  } finally {
    await client.end()
  }
}

/**
 * The producer side's fair bound: `workers` concurrent loops of BEGIN; INSERT one outbox-sized row;
 * COMMIT on a pg Pool of 10, the statements sent one after another (three round trips) and, as the
 * kit sends them (BEGIN with the INSERT), two. Commits per second.
 */
async function rawCommits(url: string, n: number, workers: number, corked: boolean): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  try {
    await pool.query(
      'CREATE TABLE IF NOT EXISTS bench_commits (seq bigserial PRIMARY KEY, body text NOT NULL)',
    )
    const body = JSON.stringify({ id: randomUUID(), type, data: fixture })
    let next = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const client = await pool.connect()
        try {
          while (next < n) {
            next++
            if (corked) {
              const [, inserted] = await Promise.all([
                client.query('BEGIN'),
                client.query('INSERT INTO bench_commits (body) VALUES ($1)', [body]),
              ])
              void inserted
            } else {
              await client.query('BEGIN')
              await client.query('INSERT INTO bench_commits (body) VALUES ($1)', [body])
            }
            await client.query('COMMIT')
          }
        } finally {
          client.release()
        }
      }),
    )
    return (n * 1000) / (performance.now() - started)
  } finally {
    await pool.end()
  }
}

/**
 * The same bound through the kit's own handle (on PGlite: its one connection, every statement in its
 * serial queue): `workers` concurrent transactions of one INSERT. Commits per second.
 */
async function kitCommits(database: Database, n: number, workers: number): Promise<number> {
  const db = await database.openContext('bench_commits', [
    migration('0001_commits.sql', 'CREATE TABLE commits (seq bigserial PRIMARY KEY, body text NOT NULL)'),
  ])
  const body = JSON.stringify({ id: randomUUID(), type, data: fixture })
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < n) {
        next++
        await db.transaction((tx) => tx.query('INSERT INTO commits (body) VALUES ($1)', [body]))
      }
    }),
  )
  return (n * 1000) / (performance.now() - started)
}

const line = (name: string, r: Result) =>
  `${name.padEnd(36)} ${Math.round(r.perSecond).toString().padStart(7)} events/s   p50 ${r.p50.toFixed(1).padStart(7)} ms   p99 ${r.p99.toFixed(1).padStart(7)} ms${r.cpuUs === undefined ? '' : `   ${Math.round(r.cpuUs)} µs CPU/event in this process, machine ${Math.round((r.machineBusy ?? 0) * 100)}% busy`}`

/** Raw JetStream: publish `n` envelope-sized messages (256 in flight), consume and ack them. */
async function rawJetStream(n: number): Promise<Result> {
  // The same connection options as the kit's transport (no async stack traces), for a like-for-like baseline.
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const stream = `BENCH_${randomUUID().replaceAll('-', '').slice(0, 8).toUpperCase()}`
  const subject = `${stream.toLowerCase()}.evt.usage.sample`
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] })
  await jsm.consumers.add(stream, {
    durable_name: 'bench',
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 20_000,
  })
  const consumer = await js.consumers.get(stream, 'bench')
  const latencies: number[] = []
  const done = (async () => {
    const messages = await consumer.consume({ max_messages: 512 })
    for await (const msg of messages) {
      const body = msg.json<{ sentAt: number }>()
      latencies.push(performance.now() - body.sentAt)
      msg.ack()
      if (latencies.length === n) break
    }
  })()
  const started = performance.now()
  const window: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) {
    const id = randomUUID()
    const body = JSON.stringify({
      id,
      type,
      version: 1,
      time: new Date().toISOString(),
      tenantId: 'tenant-bench',
      correlationId: id,
      causationId: null,
      idempotencyKey: id,
      key: `env-${i % 64}`,
      data: fixture,
      sentAt: performance.now(),
    })
    window.push(js.publish(subject, body, { msgID: id }))
    if (window.length >= 256) await Promise.all(window.splice(0))
  }
  await Promise.all(window)
  await done
  const finished = performance.now()
  await jsm.streams.delete(stream)
  await nc.drain()
  return summarise(started, finished, latencies)
}

/**
 * The bus end to end: `publishers` concurrent loops write transactions of `perTx` events to a producer
 * context's outbox; a consumer context handles each in a transaction with its inbox row.
 */
async function throughBus(
  counted: ReturnType<typeof counting>,
  transport: Transport,
  n: number,
  perTx: number,
  pgUrl?: string,
): Promise<Result & { readonly perEvent: PerEvent }> {
  const { database } = counted
  const bus: Bus = createBus({
    transport,
    catalog,
    log,
    metrics: new Registry(),
    clock: systemClock,
    ...(process.env.BENCH_CONCURRENCY ? { concurrency: Number(process.env.BENCH_CONCURRENCY) } : {}),
  })
  const producerDb = await openBusContext(database, 'bench_producer')
  const consumerDb = await openBusContext(database, 'bench_consumer')
  const producer = bus.attach('bench_producer', producerDb)
  bus.attach('bench_consumer', consumerDb)
  const latencies: number[] = []
  let allHandled: () => void = () => {}
  const finishedAll = new Promise<void>((resolve) => {
    allHandled = resolve
  })
  await bus.subscribe('bench_consumer', [
    {
      id: 'bench',
      types: [type],
      handle: async (message: Envelope) => {
        latencies.push(Date.now() - Date.parse(message.time))
        if (latencies.length === n) allHandled()
      },
    },
  ])
  await bus.start()
  const countsBefore = counted.snapshot()
  counted.statements(1)
  const pgBefore = pgUrl === undefined ? undefined : await pgTransactions(pgUrl)
  let producerTransactions = 0
  const cpuBefore = process.cpuUsage()
  const machineBefore = machineTicks()
  const started = performance.now()
  const publishers = Number(process.env.BENCH_PUBLISHERS ?? 8)
  let next = 0
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (next < n) {
        const batch = Math.min(perTx, n - next)
        const first = next
        next += batch
        await producerDb.transaction((tx) =>
          producer.publishAll(
            tx,
            Array.from({ length: batch }, (_, i) => ({
              type,
              data: fixture,
              tenantId: 'tenant-bench',
              key: `env-${(first + i) % 64}`,
            })),
          ),
        )
        producerTransactions++
      }
    }),
  )
  const timeout = new AbortController()
  await Promise.race([
    finishedAll,
    sleep(300_000, undefined, { signal: timeout.signal }).then(() => {
      throw new Error(`only ${latencies.length} of ${n} events handled in 5 minutes`)
    }),
  ])
  timeout.abort()
  const finished = performance.now()
  const cpu = process.cpuUsage(cpuBefore)
  const machineAfter = machineTicks()
  const countsAfter = counted.snapshot()
  if (listing) console.log(`  statements sent most, per event:\n${counted.statements(n).join('\n')}`)
  const pgAfter = pgUrl === undefined ? undefined : await pgTransactions(pgUrl)
  await bus.stop()
  await transport.close()
  const spent = (context: string) => {
    const after = countsAfter.get(context) ?? { transactions: 0, statements: 0 }
    const before = countsBefore.get(context) ?? { transactions: 0, statements: 0 }
    return {
      transactions: after.transactions - before.transactions,
      statements: after.statements - before.statements,
    }
  }
  const producerSide = spent('bench_producer')
  const transportSide = spent('bus')
  const consumerSide = spent('bench_consumer')
  const perEvent: PerEvent = {
    producer: producerTransactions / n,
    relay: (producerSide.transactions - producerTransactions) / n,
    transport: transportSide.transactions / n,
    consumer: consumerSide.transactions / n,
    statements: (producerSide.statements + transportSide.statements + consumerSide.statements) / n,
    ...(pgBefore === undefined || pgAfter === undefined ? {} : { pgStat: (pgAfter - pgBefore) / n }),
  }
  return {
    perEvent,
    ...summarise(started, finished, latencies),
    cpuUs: (cpu.user + cpu.system) / n,
    machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
  }
}

// Events per producer transaction: the bus's cost per event falls as transactions carry more. The
// targets are judged at 1 event per producer transaction (every event its own commit on the producer
// side: a handler's one follow-up, a single API call); 10/tx and 50/tx show the range.
const referencePerTx = 1
const verdict = (perTx: number, perSecond: number, target: number) =>
  perTx === referencePerTx
    ? `target >= ${target} events/s at ${referencePerTx}/tx: ${perSecond >= target ? 'met' : 'NOT MET'}`
    : `(targets are judged at ${referencePerTx}/tx)`
const perTxList = (process.env.BENCH_EVENTS_PER_TX ?? '1,10,50').split(',').map(Number)
// Which paths to measure (raw and nats go together: the ratio needs both).
const paths = new Set((process.env.BENCH_BUS_PATHS ?? 'nats,log').split(','))
console.log(
  `${events} events of ${type} per run, ${process.env.BENCH_PUBLISHERS ?? 8} publishers, 64 ordering keys; events per transaction: ${perTxList.join(', ')}`,
)

if (paths.has('nats')) {
  // Warm-up as long as a run (JIT, connections, streams), then the measured runs: steady state is what a
  // long-running server sees.
  await rawJetStream(events)
  const raw = await rawJetStream(events)
  console.log(line('raw @nats-io/jetstream', raw))

  const pg = await createFreshPostgres(postgresUrl)
  try {
    const bound = await rawCommits(pg.url, events, Number(process.env.BENCH_PUBLISHERS ?? 8), false)
    const boundCorked = await rawCommits(pg.url, events, Number(process.env.BENCH_PUBLISHERS ?? 8), true)
    console.log(
      `raw pg, ${process.env.BENCH_PUBLISHERS ?? 8} concurrent BEGIN; INSERT; COMMIT: ${Math.round(bound)} tx/s (3 round trips), ${Math.round(boundCorked)} tx/s (BEGIN sent with the INSERT, as the kit does): the producer side's bound at 1/tx`,
    )
    const counted = counting(await openDatabase({ kind: 'postgres', url: pg.url, poolMax: 10 }, log))
    const database = counted.database
    const namespace = `bench${randomUUID().replaceAll('-', '').slice(0, 6)}`
    try {
      // Warm-up of the kit's path as of the raw one above (JIT, pools, streams, consumers); not reported.
      await throughBus(counted, await createNatsTransport({ url: natsUrl, namespace, log }), events, 10)
      for (const perTx of perTxList) {
        const viaNats = await throughBus(
          counted,
          await createNatsTransport({ url: natsUrl, namespace, log }),
          events,
          perTx,
          pg.url,
        )
        console.log(line(`kit bus over NATS, ${perTx}/tx`, viaNats))
        console.log(perEventLine(viaNats.perEvent))
        console.log(
          `  ratio events/s kit/raw: ${(viaNats.perSecond / raw.perSecond).toFixed(3)}; ${verdict(perTx, viaNats.perSecond, 5000)}`,
        )
      }
    } finally {
      await database.close()
      await deleteStreams(natsUrl, namespace)
    }
  } finally {
    await pg.drop()
  }
}

if (paths.has('log')) {
  const counted = counting(await openDatabase({ kind: 'pglite' }, log))
  const embedded = counted.database
  try {
    await kitCommits(embedded, 2_000, Number(process.env.BENCH_PUBLISHERS ?? 8))
    const bound = await kitCommits(
      embedded,
      Math.min(events, 10_000),
      Number(process.env.BENCH_PUBLISHERS ?? 8),
    )
    console.log(
      `raw PGlite, ${process.env.BENCH_PUBLISHERS ?? 8} concurrent transactions of one INSERT through the kit's handle: ${Math.round(bound)} tx/s: the producer side's bound at 1/tx on the log`,
    )
    await throughBus(counted, await createPostgresLog({ database: embedded }), 2_000, 10)
    for (const perTx of perTxList) {
      const viaLog = await throughBus(
        counted,
        await createPostgresLog({ database: embedded }),
        Math.min(events, 10_000),
        perTx,
      )
      console.log(line(`kit bus over Postgres log, ${perTx}/tx`, viaLog))
      console.log(perEventLine(viaLog.perEvent))
      console.log(`  over the Postgres log: ${verdict(perTx, viaLog.perSecond, 2000)}`)
    }
  } finally {
    await embedded.close()
  }
}
