// A fault test of the bus: its processes killed (SIGKILL) or frozen (SIGSTOP) in the middle of their
// work, on both transports: the Postgres log, and NATS JetStream (a nats-server this test starts on its
// own port and store) with the contexts on PostgreSQL, the database processes can share. Each process is
// a worker (bus-worker.ts) leading a process group of its own, ended with the test however it ends.
// 1. A producer writes 400 messages (20 keys, a sequence number per key in the payload) in transactions of
//    two while its relay runs, and is killed between the transport storing a batch and the relay deleting
//    its rows, with the rest still in the outbox; a second process only relays.
// 2. A consumer is killed in the middle of a batch (its handlers ran, its transaction did not commit) and
//    started again.
// 3. A consumer is frozen for longer than the ack wait (2 s) while a backlog waits in it, then thawed.
// 4. One key's handler takes longer than the ack wait.
// Each consumer is a durable consumer of its own and handles the 400 messages of case 1. Each case prints
// `chaos <transport> <case>: published N, handled N, duplicates 0, lost 0, outside duplicates K`: database
// effects exactly once and in order per key; an outside effect (a line in a file, written before the
// transaction commits) runs again only for messages in hand at a kill.
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type ContextDb,
  createLogger,
  createNatsTransport,
  createPostgresLog,
  type Transport,
} from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { openBusContext, until } from '@rxt/kit/testing/bus'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { endChildren, spawnRxt } from '../../apps/server/test/process.ts'
import { count } from '../../packages/kit/src/bus/conformance.fixtures.ts'
import {
  consumerMigrations,
  keyOf,
  messageType,
  producerMigrations,
  type WorkerConfig,
  type WorkerTransport,
} from './bus-worker.ts'
import { accepts, freePort } from './net.ts'

const workerScript = fileURLToPath(new URL('./bus-worker.ts', import.meta.url))
const groupLeader = fileURLToPath(new URL('./group-leader.ts', import.meta.url))

const keys = 20
const perKey = 20
const messages = keys * perKey
const ackWaitMs = 2_000

/** The nats-server this machine has, or why there is none. */
const natsServer = (() => {
  try {
    return { path: execFileSync('which', ['nats-server'], { encoding: 'utf8' }).trim(), reason: '' }
  } catch {
    return { path: '', reason: 'no nats-server binary on PATH (`which nats-server` found none)' }
  }
})()
const postgresReason = inject('postgresSkipReason')

const targets = [
  { name: 'postgres-log', reason: postgresReason },
  {
    name: 'nats',
    reason: [postgresReason, natsServer.reason].filter((r) => r !== '').join('; '),
  },
] as const
for (const { name, reason } of targets) {
  if (reason === '') continue
  if (process.env.CI === 'true')
    throw new Error(`CI=true and a peer of the chaos test on ${name} is missing: ${reason}`)
  process.stdout.write(`SKIPPED chaos process-kill on ${name}: ${reason}\n`)
}

type WorkerEvent = { readonly event: string } & Record<string, unknown>

/** A worker process: what it said, and how to end it. */
interface Worker {
  readonly label: string
  /** The first event called `name` the worker said (before or after the call); rejects if it exits first. */
  next(name: string, ms?: number): Promise<WorkerEvent>
  /** SIGKILL to its process group; resolves once it is gone. */
  kill(): Promise<void>
  /** SIGTERM: the bus stops (finishing what it has in hand); resolves with the metrics it printed. */
  stop(): Promise<WorkerEvent>
  /** Sends `signal` to its process group (SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void
}

const workers = new Set<Worker>()

function startWorker(config: WorkerConfig): Promise<Worker> {
  const child = spawnRxt([JSON.stringify(config)], {}, workerScript)
  const events: WorkerEvent[] = []
  const tail: string[] = []
  const keep = (line: string) => {
    tail.push(line)
    if (tail.length > 60) tail.shift()
  }
  const listeners = new Set<() => void>()
  let partial = ''
  child.stdout.on('data', (data: Buffer) => {
    const lines = (partial + data).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      keep(line)
      try {
        const parsed = JSON.parse(line) as WorkerEvent
        if (typeof parsed.event === 'string') events.push(parsed)
      } catch {
        // Not an event.
      }
    }
    for (const listener of listeners) listener()
  })
  child.stderr.on('data', (data: Buffer) => keep(String(data).trimEnd()))
  const exited = once(child, 'exit')
  let gone = false
  void exited.then(() => {
    gone = true
    for (const listener of listeners) listener()
  })
  const output = () => tail.join('\n')
  const worker: Worker = {
    label: config.label,
    next: (name, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`worker ${config.label} did not say ${name} within ${ms} ms:\n${output()}`))
        }, ms)
        const check = () => {
          const found = events.find((e) => e.event === name)
          if (found === undefined && !gone) return
          listeners.delete(check)
          clearTimeout(timer)
          if (found !== undefined) resolve(found)
          else reject(new Error(`worker ${config.label} exited before saying ${name}:\n${output()}`))
        }
        listeners.add(check)
        check()
      }),
    async kill() {
      workers.delete(worker)
      if (!gone && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      await exited
    },
    signal(signal) {
      if (!gone && child.pid !== undefined) process.kill(-child.pid, signal)
    },
    async stop() {
      workers.delete(worker)
      child.kill('SIGTERM')
      const stopped = await worker.next('stopped', 30_000)
      await exited
      return stopped
    },
  }
  workers.add(worker)
  return worker.next('ready').then(() => worker)
}

/** One line of the outside log: which process ran the handler on which message. */
interface OutsideLine {
  readonly worker: string
  readonly id: string
  readonly key: string
  readonly seq: number
  readonly deliveries: number
}

const outsideLines = (path: string): OutsideLine[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [worker, id, key, seq, deliveries] = line.split(' ')
          return { worker, id, key, seq: Number(seq), deliveries: Number(deliveries) } as OutsideLine
        })
    : []

/** Messages whose outside effect ran more than once, and how many runs too many there were. */
const outsideDuplicates = (lines: readonly OutsideLine[]) => {
  const runs = new Map<string, number>()
  for (const line of lines) runs.set(line.id, (runs.get(line.id) ?? 0) + 1)
  const twice = [...runs].filter(([, n]) => n > 1).map(([id]) => id)
  return { ids: new Set(twice), count: lines.length - runs.size }
}

for (const { name: transportName, reason } of targets) {
  describe.skipIf(reason !== '')(`chaos: bus processes killed mid-batch (${transportName})`, () => {
    let scratch = ''
    let db: TestDatabase | undefined
    let producer: ContextDb
    let consumer: ContextDb
    let probe: Transport | undefined
    let transport: WorkerTransport
    let databaseUrl = ''

    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), `rxt-chaos-kill-${transportName}-`))
      if (transportName === 'nats') {
        // A server of its own (port and store), removed with the test: the kills leave unacknowledged
        // messages and durable consumers behind, which no other suite on the shared server should see.
        const port = await freePort()
        const server = spawnRxt(
          [natsServer.path, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(scratch, 'nats')],
          {},
          groupLeader,
        )
        server.stdout.resume()
        server.stderr.resume()
        await until(() => accepts(port), 15_000, 'nats-server to accept connections')
        transport = {
          kind: 'nats',
          url: `nats://127.0.0.1:${port}`,
          namespace: `chaos${randomUUID().replaceAll('-', '').slice(0, 8)}`,
        }
      } else transport = { kind: 'postgres-log' }
      db = await (dbTargets()[1] as { create(): Promise<TestDatabase> }).create()
      databaseUrl = db.url as string
      producer = await openBusContext(db.database, 'producer', producerMigrations)
      consumer = await openBusContext(db.database, 'consumer', consumerMigrations)
      probe =
        transport.kind === 'nats'
          ? await createNatsTransport({
              url: transport.url,
              namespace: transport.namespace,
              log: createLogger({ level: 'silent' }),
            })
          : await createPostgresLog({ database: db.database })
    })
    afterEach(async () => {
      await Promise.all([...workers].map((w) => w.kill()))
    })
    afterAll(async () => {
      await probe?.close().catch(() => undefined)
      await db?.dispose()
      // The nats-server (and any worker still running) with its process group.
      await endChildren()
      if (scratch !== '') rmSync(scratch, { recursive: true, force: true })
    })

    const common = (label: string) => ({ label, databaseUrl, transport, ackWaitMs })
    const consumerOf = (
      label: string,
      handler: string,
      more: Partial<Extract<WorkerConfig, { role: 'consume' }>> = {},
    ): WorkerConfig => ({
      ...common(label),
      role: 'consume',
      handler,
      outsideLog: join(scratch, `${handler}.log`),
      handleMs: 0,
      ...more,
    })
    const effects = (handler: string, worker?: string) =>
      count(
        consumer,
        `SELECT count(*) AS n FROM effects WHERE handler = $1${worker === undefined ? '' : ' AND worker = $2'}`,
        worker === undefined ? [handler] : [handler, worker],
      )
    const lag = (handler: string) =>
      (probe as Transport).lag({ name: `consumer.${handler}`, types: [messageType], ackWaitMs })

    /** Waits until the consumer has handled every message sent and the transport owes it nothing. */
    const settled = async (handler: string, ms: number) => {
      const sent = await count(producer, 'SELECT count(*) AS n FROM sent')
      await until(
        async () =>
          (await count(consumer, 'SELECT count(DISTINCT message_id) AS n FROM effects WHERE handler = $1', [
            handler,
          ])) >= sent,
        ms,
        `every message handled by consumer.${handler}`,
      )
      await until(async () => (await lag(handler)) === 0, ms, `consumer.${handler} to owe nothing`)
    }

    /**
     * What the consumer's handler committed, against what the producer committed (its `sent` rows):
     * counts, and each key's sequence numbers in the order they were handled.
     */
    const verify = async (handler: string) => {
      const { rows: sent } = await producer.query<{ message_id: string; key: string; seq: number }>(
        'SELECT message_id, key, seq FROM sent ORDER BY key, seq',
      )
      const { rows: done } = await consumer.query<{
        message_id: string
        key: string
        seq: number
        worker: string
        deliveries: number
        n: string
        tx: string
      }>(
        'SELECT message_id, key, seq, worker, deliveries, n, tx FROM effects WHERE handler = $1 ORDER BY n',
        [handler],
      )
      const published = new Set(sent.map((r) => r.message_id))
      const handledIds = new Set(done.map((r) => r.message_id))
      const handled = [...handledIds].filter((id) => published.has(id)).length
      const counts = {
        published: published.size,
        handled,
        duplicates: done.length - handledIds.size,
        lost: published.size - handled,
        unknown: handledIds.size - handled,
      }
      const order = (rows: readonly { key: string; seq: number }[]) =>
        Object.fromEntries(
          Array.from({ length: keys }, (_, i) => [
            keyOf(i),
            rows.filter((r) => r.key === keyOf(i)).map((r) => r.seq),
          ]),
        )
      // Each message handled more than once: which process committed it, on which delivery, in which
      // transaction (shown when a case fails).
      const runs = new Map<string, { worker: string; deliveries: number; tx: string; n: string }[]>()
      for (const r of done)
        runs.set(r.message_id, [
          ...(runs.get(r.message_id) ?? []),
          { worker: r.worker, deliveries: r.deliveries, tx: r.tx, n: r.n },
        ])
      const twice = [...runs].filter(([, list]) => list.length > 1)
      if (twice.length > 0)
        process.stdout.write(
          `chaos ${transportName} ${handler}: ${twice.length} messages handled more than once, e.g. ${JSON.stringify(Object.fromEntries(twice.slice(0, 3)))}\n`,
        )
      return { counts, handledOrder: order(done), sentOrder: order(sent), done }
    }

    const report = (
      name: string,
      counts: { published: number; handled: number; duplicates: number; lost: number },
      outside: number,
      more: Record<string, unknown> = {},
    ) => {
      const extra = Object.entries(more)
        .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`)
        .join(', ')
      process.stdout.write(
        `chaos ${transportName} ${name}: published ${counts.published}, handled ${counts.handled}, duplicates ${counts.duplicates}, lost ${counts.lost}, outside duplicates ${outside}${extra === '' ? '' : ` (${extra})`}\n`,
      )
    }

    it('a producer killed between the transport storing a batch and the relay deleting it: another process relays the rest, each message handled once', async () => {
      const live = await startWorker(consumerOf('r1', 'relayed'))
      const writer = await startWorker({
        ...common('p1'),
        role: 'produce',
        keys,
        perKey,
        perTx: 2,
        writers: 4,
        stallAfter: messages / 4,
      })
      const stalled = await writer.next('stalled')
      await writer.next('written')
      await writer.kill()

      // At the kill: every message committed, some on the transport, the rest (and the batch in flight,
      // which the transport has too) still in the outbox.
      const inFlight = stalled.inFlight as string[]
      expect(await count(producer, 'SELECT count(*) AS n FROM sent')).toBe(messages)
      const waiting = await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')
      expect(stalled.stored).toBeGreaterThanOrEqual(messages / 4)
      expect(waiting).toBeGreaterThan(0)
      expect(waiting).toBeLessThan(messages)
      expect(
        await count(producer, 'SELECT count(*) AS n FROM rxt_outbox WHERE id = ANY($1::uuid[])', [inFlight]),
      ).toBe(inFlight.length)

      // The second producer writes nothing: it takes the relay's lease once the dead one's has run out.
      const relay = await startWorker({ ...common('p2'), role: 'relay' })
      await until(
        async () => (await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')) === 0,
        30_000,
        'the second relay to empty the outbox',
      )
      await settled('relayed', 30_000)
      const relayed = await relay.stop()
      const stopped = await live.stop()
      const { counts, handledOrder, sentOrder } = await verify('relayed')
      const outside = outsideDuplicates(outsideLines(join(scratch, 'relayed.log')))
      report('producer-kill', counts, outside.count, {
        'in the outbox at the kill': waiting,
        'stored and not deleted at the kill': inFlight.length,
        'relayed by the second producer': relayed.published,
        redelivered: stopped.redelivered,
      })
      expect(counts).toEqual({ published: messages, handled: messages, duplicates: 0, lost: 0, unknown: 0 })
      expect(handledOrder).toEqual(sentOrder)
      // The consumer was not killed: no handler ran twice.
      expect(outside.count).toBe(0)
    }, 90_000)

    it('a consumer killed in the middle of a batch: started again, each message handled once, in order per key', async () => {
      expect(await count(producer, 'SELECT count(*) AS n FROM sent')).toBe(messages)
      const log = join(scratch, 'killed.log')
      // Every handler takes a moment, so that a batch's transaction lasts; the first process stops in
      // one (key k07's 18th message), having run the handlers before it in its batch, and is killed.
      const first = await startWorker(
        consumerOf('c1', 'killed', { handleMs: 5, pauseAt: { key: keyOf(7), seq: 18, ms: 60_000 } }),
      )
      const paused = await first.next('paused')
      await first.kill()
      const committedBefore = await effects('killed', 'c1')
      const { rows: firstDone } = await consumer.query<{ message_id: string }>(
        "SELECT message_id FROM effects WHERE handler = 'killed' AND worker = 'c1'",
      )
      const committed = new Set(firstDone.map((r) => r.message_id))
      const inHand = new Set(
        outsideLines(log)
          .filter((l) => l.worker === 'c1' && !committed.has(l.id))
          .map((l) => l.id),
      )
      expect(committedBefore).toBeGreaterThan(0)
      expect(committedBefore).toBeLessThan(messages)
      expect(inHand.has(paused.id as string)).toBe(true)

      const second = await startWorker(consumerOf('c2', 'killed'))
      await settled('killed', 45_000)
      const stopped = await second.stop()
      const { counts, handledOrder, sentOrder, done } = await verify('killed')
      const outside = outsideDuplicates(outsideLines(log))
      report('consumer-kill', counts, outside.count, {
        'committed before the kill': committedBefore,
        'in hand at the kill': inHand.size,
        redelivered: stopped.redelivered,
        'inbox duplicates': stopped.duplicates,
      })
      expect(counts).toEqual({ published: messages, handled: messages, duplicates: 0, lost: 0, unknown: 0 })
      if (transportName === 'nats') {
        // NATS redelivers what the killed process held only after the ack wait, and delivers the rest of
        // the stream at once: a redelivered message may come after later ones of its key (the kit README's
        // guarantees table says so). What was delivered once is in order.
        const once = done.filter((r) => r.deliveries === 1)
        const ids = new Set(once.map((r) => r.message_id))
        const firstOrder = (rows: readonly { key: string; seq: number; message_id: string }[]) =>
          Object.fromEntries(
            Object.keys(sentOrder).map((key) => [
              key,
              rows.filter((r) => r.key === key && ids.has(r.message_id)).map((r) => r.seq),
            ]),
          )
        expect(firstOrder(once)).toEqual(
          firstOrder(
            Object.entries(sentOrder).flatMap(([key, seqs]) =>
              seqs.map((seq) => ({
                key,
                seq,
                message_id: once.find((r) => r.key === key && r.seq === seq)?.message_id ?? '',
              })),
            ),
          ),
        )
      } else expect(handledOrder).toEqual(sentOrder)
      // An outside effect ran twice only for a message in hand at the kill, and each of those ran again.
      expect([...outside.ids].filter((id) => !inHand.has(id))).toEqual([])
      expect(outside.ids).toEqual(inHand)
    }, 90_000)

    it('a consumer frozen (SIGSTOP) for longer than the ack wait, then thawed: each message handled once', async () => {
      expect(await count(producer, 'SELECT count(*) AS n FROM sent')).toBe(messages)
      const log = join(scratch, 'frozen.log')
      // Handlers take a moment, so that a backlog waits in the process behind the batch in hand.
      const worker = await startWorker(consumerOf('f1', 'frozen', { handleMs: 20 }))
      await until(() => outsideLines(log).length >= 20, 30_000, 'the consumer to be handling')
      worker.signal('SIGSTOP')
      const frozenAt = Date.now()
      // The fault itself: the process stays frozen past the ack wait (no heartbeat goes out meanwhile).
      await until(() => Date.now() - frozenAt >= ackWaitMs + 1_500, ackWaitMs + 5_000, 'the freeze to last')
      worker.signal('SIGCONT')
      await settled('frozen', 60_000)
      const stopped = await worker.stop()
      const { counts, handledOrder, sentOrder } = await verify('frozen')
      const outside = outsideDuplicates(outsideLines(log))
      report('consumer-freeze', counts, outside.count, {
        redelivered: stopped.redelivered,
        'inbox duplicates': stopped.duplicates,
      })
      expect(counts).toEqual({ published: messages, handled: messages, duplicates: 0, lost: 0, unknown: 0 })
      expect(handledOrder).toEqual(sentOrder)
      // Nothing was killed: what came again while its first delivery was in the process is not run again.
      expect(outside.count).toBe(0)
    }, 90_000)

    it('a handler slower than the ack wait: nothing handled twice, other keys go on meanwhile', async () => {
      expect(await count(producer, 'SELECT count(*) AS n FROM sent')).toBe(messages)
      const slowKey = keyOf(0)
      const worker = await startWorker(
        consumerOf('s1', 'slow', { slow: { key: slowKey, upTo: 2, ms: ackWaitMs + 1_000 } }),
      )
      await settled('slow', 60_000)
      const stopped = await worker.stop()
      const { counts, handledOrder, sentOrder, done } = await verify('slow')
      const slowTx = done.find((r) => r.key === slowKey && r.seq === 1)?.tx
      const lines = outsideLines(join(scratch, 'slow.log'))
      const outside = outsideDuplicates(lines)
      const { rows: slow } = await consumer.query<{
        seq: number
        others_before: number
        others_after: number
      }>(
        "SELECT seq, others_before, others_after FROM effects WHERE handler = 'slow' AND key = $1 AND others_before IS NOT NULL ORDER BY seq",
        [slowKey],
      )
      report('slow-handler', counts, outside.count, {
        redelivered: stopped.redelivered,
        'inbox duplicates': stopped.duplicates,
        'most deliveries of a message': Math.max(...lines.map((l) => l.deliveries)),
        transactions: new Set(done.map((r) => r.tx)).size,
        "messages in the first slow one's transaction": done.filter((r) => r.tx === slowTx).length,
        "keys in the first slow one's transaction": new Set(
          done.filter((r) => r.tx === slowTx).map((r) => r.key),
        ).size,
        "other keys' messages handled while the first slow one was in hand":
          (slow[0]?.others_after ?? 0) - (slow[0]?.others_before ?? 0),
      })
      expect(counts).toEqual({ published: messages, handled: messages, duplicates: 0, lost: 0, unknown: 0 })
      expect(handledOrder).toEqual(sentOrder)
      expect(outside.count).toBe(0)
      expect(slow.map((r) => r.seq)).toEqual([1, 2])
      expect(slow[0]?.others_after).toBeGreaterThan(slow[0]?.others_before as number)
    }, 90_000)
  })
}
