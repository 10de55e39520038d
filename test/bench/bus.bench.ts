// Events per second and publish-to-handled latency through the bus (outbox → relay → transport → inbox),
// against raw @nats-io/jetstream publish/consume on the same server, measured in the same run.
//   kit over NATS:          contexts on PostgreSQL, transport NATS JetStream (the distributed mode)
//   kit over Postgres log:  contexts and log on PGlite (the embedded default)
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { catalog, type Envelope } from '@rxt/contracts'
import {
  type Bus,
  createBus,
  createLogger,
  createNatsTransport,
  createPostgresLog,
  type Database,
  openDatabase,
  systemClock,
  type Transport,
} from '@rxt/kit'
import { createFreshPostgres } from '@rxt/kit/testing'
import { deleteStreams, openBusContext } from '@rxt/kit/testing/bus'
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
  database: Database,
  transport: Transport,
  n: number,
  perTx: number,
): Promise<Result> {
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
  await bus.stop()
  await transport.close()
  return {
    ...summarise(started, finished, latencies),
    cpuUs: (cpu.user + cpu.system) / n,
    machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
  }
}

// Events per producer transaction: the bus's cost per event falls as transactions carry more. The
// targets are judged at the reference workload, 10 events per transaction (a metering window, a saga
// step with its follow-ups); 1/tx and 50/tx show the range: at 1/tx every event is a commit on both
// the producer and the consumer side, which bounds it on this machine.
const referencePerTx = 10
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
    const database = await openDatabase({ kind: 'postgres', url: pg.url, poolMax: 10 }, log)
    const namespace = `bench${randomUUID().replaceAll('-', '').slice(0, 6)}`
    try {
      // Warm-up of the kit's path as of the raw one above (JIT, pools, streams, consumers); not reported.
      await throughBus(database, await createNatsTransport({ url: natsUrl, namespace, log }), events, 10)
      for (const perTx of perTxList) {
        const viaNats = await throughBus(
          database,
          await createNatsTransport({ url: natsUrl, namespace, log }),
          events,
          perTx,
        )
        console.log(line(`kit bus over NATS, ${perTx}/tx`, viaNats))
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
  const embedded = await openDatabase({ kind: 'pglite' }, log)
  try {
    await throughBus(embedded, await createPostgresLog({ database: embedded }), 2_000, 10)
    for (const perTx of perTxList) {
      const viaLog = await throughBus(
        embedded,
        await createPostgresLog({ database: embedded }),
        Math.min(events, 10_000),
        perTx,
      )
      console.log(line(`kit bus over Postgres log, ${perTx}/tx`, viaLog))
      console.log(`  over the Postgres log: ${verdict(perTx, viaLog.perSecond, 2000)}`)
    }
  } finally {
    await embedded.close()
  }
}
