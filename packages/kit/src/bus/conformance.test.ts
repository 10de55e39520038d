// The one conformance suite of the bus, run against every transport: the Postgres log (on PGlite and on
// PostgreSQL) and NATS JetStream. Each case builds buses the way processes do: one per simulated process,
// sharing the database and the transport's server.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Envelope } from '@rxt/contracts'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ContextDb } from '../db/index.ts'
import { InputError } from '../errors.ts'
import { openBusContext, type TransportFixture, transportTargets, until } from '../testing/bus.ts'
import { type Bus, type BusOptions, type ContextBus, createBus, type MessageHandler } from './bus.ts'
import {
  count,
  effects,
  expectKeyOrder,
  fixture,
  rawEnvelope,
  testBusOptions,
  type,
  withoutAcks,
} from './conformance.fixtures.ts'
import type { OutboundMessage, Transport } from './transport.ts'

for (const target of transportTargets()) {
  describe.skipIf(target.skipped !== undefined)(`bus conformance: ${target.name}`, () => {
    let fx: TransportFixture
    let producer: ContextDb
    let consumer: ContextDb
    const buses: Bus[] = []

    const newBus = async (options: Partial<BusOptions> & { transport?: Transport } = {}) => {
      const bus = createBus({ ...testBusOptions(options.transport ?? (await fx.newTransport())), ...options })
      buses.push(bus)
      return bus
    }

    /** A consumer handler that records each message it commits in `effects`. */
    const recorder = (id: string, onHandle?: (m: Envelope) => Promise<void> | void): MessageHandler => ({
      id,
      types: [type],
      handle: async (message, { tx }) => {
        await onHandle?.(message)
        await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
      },
    })

    const producers = new WeakMap<Bus, ContextBus>()
    const publish = async (bus: Bus, keys: readonly string[]) => {
      const ctx = producers.get(bus) ?? bus.attach('producer', producer)
      producers.set(bus, ctx)
      return producer.transaction(async (tx) => {
        const sent: Envelope[] = []
        for (const key of keys)
          sent.push(await ctx.publish(tx, { type, data: fixture, tenantId: 'tenant-a', key }))
        return sent
      })
    }

    beforeEach(async () => {
      fx = await target.create()
      producer = await openBusContext(fx.database, 'producer')
      consumer = await openBusContext(fx.database, 'consumer', effects)
    })
    afterEach(async () => {
      for (const bus of buses.splice(0).reverse()) await bus.stop().catch(() => undefined)
      await fx.dispose()
    })

    it('keeps the order of each key while handling keys in parallel', async () => {
      const bus = await newBus({ concurrency: 4, fetchBatch: 16 })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('ordered')])
      await bus.start()
      const keys = Array.from({ length: 60 }, (_, i) => `key-${i % 3}`)
      const sent = await publish(bus, keys)
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 60,
        20_000,
        '60 effects',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects ORDER BY n',
      )
      expectKeyOrder(rows, sent, ['key-0', 'key-1', 'key-2'])
    })

    it('handles a message once when the consumer died between handling and ack', async () => {
      // The first process commits the handler's work, then dies before its ack reaches the transport.
      const dying = withoutAcks(await fx.newTransport())
      const first = await newBus({ transport: dying })
      first.attach('consumer', consumer)
      await first.subscribe('consumer', [recorder('crash')])
      await first.start()
      const [sent] = await publish(first, ['k'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 1,
        15_000,
        'first effect',
      )
      await first.stop()

      const second = await newBus()
      second.attach('consumer', consumer)
      await second.subscribe('consumer', [recorder('crash')])
      await second.start()
      // After the ack wait the message comes back; the inbox knows it, so it is acked unhandled.
      await until(
        async () =>
          (await second.transport.lag({ name: 'consumer.crash', types: [type], ackWaitMs: 2_000 })) === 0,
        20_000,
        'the redelivery to be settled',
      )
      expect(
        await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [sent?.id]),
      ).toBe(1)
      expect(
        await count(consumer, "SELECT count(*) AS n FROM rxt_inbox WHERE consumer = 'consumer.crash'"),
      ).toBe(1)
    })

    it('dead-letters after maxDeliveries failures with the last error, then replays it', async () => {
      let failing = true
      let attempts = 0
      const bus = await newBus()
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        recorder('flaky', () => {
          attempts++
          if (failing) throw new Error(`boom ${attempts}`)
        }),
      ])
      await bus.start()
      const [sent] = await publish(bus, ['k'])
      await until(async () => (await bus.deadLetters()).length === 1, 15_000, 'a dead letter')
      const [letter] = await bus.deadLetters()
      expect(letter).toMatchObject({
        consumer: 'consumer.flaky',
        messageId: sent?.id,
        type,
        error: 'Error: boom 3',
        deliveries: 3,
        replayedAt: null,
      })
      expect(attempts).toBe(3)
      expect(await count(consumer, 'SELECT count(*) AS n FROM effects')).toBe(0)

      failing = false
      const replayed = await bus.replayDeadLetter(letter?.id as string)
      expect(replayed.replayedAt).not.toBeNull()
      expect(replayed.replays).toBe(1)
      expect(await count(consumer, 'SELECT count(*) AS n FROM effects')).toBe(1)
      expect(await bus.deadLetters()).toEqual([])
      expect(await bus.deadLetters({ includeReplayed: true })).toHaveLength(1)
    })

    it('retries one failing message of a key without handling the others twice or out of order', async () => {
      const bus = await newBus({ fetchBatch: 64 })
      let failOnce: string | undefined
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        recorder('partial', (m) => {
          if (m.id === failOnce) {
            failOnce = undefined
            throw new Error('transient')
          }
        }),
      ])
      const ctx = bus.attach('producer', producer)
      const sent = await producer.transaction((tx) =>
        ctx.publishAll(
          tx,
          Array.from({ length: 20 }, (_, i) => ({ type, data: fixture, tenantId: 't', key: `k${i % 2}` })),
        ),
      )
      failOnce = sent[7]?.id
      await bus.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 20,
        20_000,
        '20 effects',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects ORDER BY n',
      )
      expect(new Set(rows.map((r) => r.message_id)).size).toBe(20)
      expectKeyOrder(rows, sent, ['k0', 'k1'])
      expect(failOnce).toBeUndefined()
    })

    it("keeps a key's order across retries: its later messages never overtake a failed one", async () => {
      const bus = await newBus()
      const failures = new Map<string, number>()
      let first: string | undefined
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        recorder('retried-order', (m) => {
          if (m.id !== first) return
          const n = (failures.get(m.id) ?? 0) + 1
          failures.set(m.id, n)
          if (n <= 2) throw new Error(`transient ${n}`)
        }),
      ])
      const ctx = bus.attach('producer', producer)
      const sent = await producer.transaction((tx) =>
        ctx.publishAll(
          tx,
          Array.from({ length: 5 }, () => ({ type, data: fixture, tenantId: 't', key: 'saga-1' })),
        ),
      )
      first = sent[0]?.id
      await bus.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 5,
        20_000,
        '5 effects',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects ORDER BY n',
      )
      expectKeyOrder(rows, sent, ['saga-1'])
      expect(failures.get(first as string)).toBe(3)
    })

    it('a handler that holds keys keeps the rest of a key back after a dead letter, until it is replayed or discarded', async () => {
      const bus = await newBus()
      let failing = true
      let poison: string | undefined
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        {
          ...recorder('holding', (m) => {
            if (failing && m.id === poison) throw new InputError('cannot take this one yet')
          }),
          onDeadLetter: 'hold',
        },
      ])
      const ctx = bus.attach('producer', producer)
      const sent = await producer.transaction((tx) =>
        ctx.publishAll(tx, [
          { type, data: fixture, tenantId: 't', key: 'held' },
          { type, data: fixture, tenantId: 't', key: 'held' },
          { type, data: fixture, tenantId: 't', key: 'other' },
          { type, data: fixture, tenantId: 't', key: 'held' },
          { type, data: fixture, tenantId: 't', key: 'gone' },
          { type, data: fixture, tenantId: 't', key: 'gone' },
        ]),
      )
      poison = sent[0]?.id
      await bus.start()
      await until(async () => (await bus.deadLetters()).length === 1, 15_000, 'a dead letter')
      await until(
        async () =>
          (await count(consumer, "SELECT count(*) AS n FROM effects WHERE key IN ('other', 'gone')")) === 3,
        15_000,
        'the other keys',
      )
      // The key is held: its later messages wait (settled on the transport, kept in the database).
      await until(
        async () =>
          (await bus.transport.lag({ name: 'consumer.holding', types: [type], ackWaitMs: 2_000 })) === 0,
        15_000,
        'the transport settled',
      )
      expect(await count(consumer, "SELECT count(*) AS n FROM effects WHERE key = 'held'")).toBe(0)
      failing = false
      const [letter] = await bus.deadLetters()
      await bus.replayDeadLetter(letter?.id as string)
      await until(
        async () => (await count(consumer, "SELECT count(*) AS n FROM effects WHERE key = 'held'")) === 3,
        15_000,
        'the held key to go on',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects ORDER BY n',
      )
      expectKeyOrder(rows, sent, ['held', 'other', 'gone'])

      // Discarding releases a key too: its next messages go on, the discarded one is never handled.
      failing = true
      const more = await producer.transaction((tx) =>
        ctx.publishAll(tx, [
          { type, data: fixture, tenantId: 't', key: 'again' },
          { type, data: fixture, tenantId: 't', key: 'again' },
        ]),
      )
      poison = more[0]?.id
      await until(async () => (await bus.deadLetters()).length === 1, 15_000, 'a second dead letter')
      const [second] = await bus.deadLetters()
      expect(await count(consumer, "SELECT count(*) AS n FROM effects WHERE key = 'again'")).toBe(0)
      expect((await bus.discardDeadLetter(second?.id as string)).discardedAt).not.toBeNull()
      await until(
        async () => (await count(consumer, "SELECT count(*) AS n FROM effects WHERE key = 'again'")) === 1,
        15_000,
        'the key to go on after the discard',
      )
      expect(
        await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [more[1]?.id]),
      ).toBe(1)
      expect(await bus.deadLetters()).toEqual([])
      await expect(bus.replayDeadLetter(second?.id as string)).rejects.toThrow(/discarded/)
    })

    it('when one message of a group fails, the others run once', async () => {
      const runs = new Map<string, number>()
      let failOnce: string | undefined
      const bus = await newBus({ fetchBatch: 64, concurrency: 1 })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        recorder('grouped', (m) => {
          // An outside effect: it is not rolled back with the transaction.
          runs.set(m.id, (runs.get(m.id) ?? 0) + 1)
          if (m.id === failOnce) {
            failOnce = undefined
            throw new Error('transient')
          }
        }),
      ])
      const ctx = bus.attach('producer', producer)
      const sent = await producer.transaction((tx) =>
        ctx.publishAll(
          tx,
          Array.from({ length: 30 }, (_, i) => ({ type, data: fixture, tenantId: 't', key: `k${i % 3}` })),
        ),
      )
      failOnce = sent[10]?.id
      await bus.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 30,
        20_000,
        '30 effects',
      )
      expect(failOnce).toBeUndefined()
      expect(sent.filter((m) => m.id !== sent[10]?.id).every((m) => runs.get(m.id) === 1)).toBe(true)
      expect(runs.get(sent[10]?.id as string)).toBe(2)
    })

    it('a consumer that starts after messages were published still gets them', async () => {
      // Another process publishes before this consumer ever ran (a fresh install, a new handler).
      const publisher = await newBus()
      await publisher.start()
      const sent = await publish(publisher, ['early-1', 'early-2', 'early-3'])
      await until(
        async () => (await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')) === 0,
        15_000,
        'the messages relayed',
      )
      const bus = await newBus()
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('late')])
      await bus.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 3,
        15_000,
        'the three published before it started',
      )
      const { rows } = await consumer.query<{ message_id: string }>('SELECT message_id FROM effects')
      expect(rows.map((r) => r.message_id).sort()).toEqual(sent.map((m) => m.id).sort())
    })

    it('a slow handler, and what waits behind it, are not delivered again while it runs', async () => {
      const metrics = new Registry()
      const bus = await newBus({ metrics, concurrency: 1, fetchBatch: 8 })
      bus.attach('consumer', consumer)
      // Each message takes a fifth of the ack wait: the twelve of one key take longer than it.
      await bus.subscribe('consumer', [recorder('slow', () => sleep(400))])
      await bus.start()
      await publish(
        bus,
        Array.from({ length: 12 }, () => 'one-key'),
      )
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 12,
        30_000,
        '12 effects',
      )
      const redelivered = (await metrics.getSingleMetric('rxt_bus_redelivered_total')?.get())?.values ?? []
      // On PGlite the one connection is held by the sleeping handler's transaction, and the lease
      // extension waits behind it: redeliveries happen there (the inbox keeps them from running twice)
      // until handlers act after commit.
      if (target.name !== 'postgres-log on pglite') {
        expect(redelivered.reduce((n, v) => n + v.value, 0)).toBe(0)
      }
      expect(await count(consumer, 'SELECT count(*) AS n FROM effects')).toBe(12)
    })

    it('delays a message published with notBefore, durably, and lets its key go on meanwhile', async () => {
      const first = await newBus()
      const ctx = first.attach('producer', producer)
      await first.start()
      const notBefore = new Date(Date.now() + 1_500)
      const [delayed, prompt] = await producer.transaction((tx) =>
        ctx.publishAll(tx, [
          { type, data: fixture, tenantId: 't', key: 'later', notBefore },
          { type, data: fixture, tenantId: 't', key: 'later' },
        ]),
      )
      // The process that published it stops before it is due: it waits in the outbox, not in memory.
      await until(
        async () => (await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')) === 1,
        10_000,
        'the prompt one relayed',
      )
      await first.stop()
      expect(await count(producer, 'SELECT count(*) AS n FROM rxt_outbox WHERE id = $1', [delayed?.id])).toBe(
        1,
      )

      const second = await newBus()
      second.attach('producer', producer)
      second.attach('consumer', consumer)
      const handledAt = new Map<string, number>()
      await second.subscribe('consumer', [recorder('delayed', (m) => void handledAt.set(m.id, Date.now()))])
      await second.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 2,
        15_000,
        'both handled',
      )
      const { rows } = await consumer.query<{ message_id: string }>(
        'SELECT message_id FROM effects ORDER BY n',
      )
      expect(rows.map((r) => r.message_id)).toEqual([prompt?.id, delayed?.id])
      expect(handledAt.get(delayed?.id as string)).toBeGreaterThanOrEqual(notBefore.getTime())
      await expect(
        producer.transaction((tx) =>
          ctx.publish(tx, {
            type,
            data: fixture,
            tenantId: 't',
            notBefore: new Date(Date.now() + 40 * 86_400_000),
          }),
        ),
      ).rejects.toThrow(/notBefore must be a time at most 30 days ahead/)
    })

    it('times a handler out: its transaction rolls back, its late statements are refused, it is retried', async () => {
      const bus = await newBus()
      bus.attach('consumer', consumer)
      let attempts = 0
      let late: unknown
      let aborted = false
      await bus.subscribe('consumer', [
        {
          id: 'slow-once',
          types: [type],
          timeoutMs: 200,
          handle: async (message, { tx, signal }) => {
            attempts++
            await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, 'early'])
            if (attempts === 1) {
              await new Promise((resolve) => setTimeout(resolve, 600))
              aborted = signal.aborted
              late = await tx
                .query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, 'late'])
                .then(
                  () => 'written',
                  (error: Error) => error.message,
                )
            }
          },
        },
      ])
      await bus.start()
      const [sent] = await publish(bus, ['k'])
      await until(async () => late !== undefined, 10_000, 'the timed-out attempt to end')
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 1,
        10_000,
        'the retry',
      )
      expect(aborted).toBe(true)
      expect(late).toMatch(/after its attempt ended/)
      expect(attempts).toBe(2)
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects',
      )
      expect(rows).toEqual([{ message_id: sent?.id, key: 'early' }])
    })

    it('acts after commit: outside work holds no transaction, runs again only when its attempt failed, and keeps order per key', async () => {
      // A transport whose first process dies after recording and before acking: the redelivery is not acted on.
      const dying = withoutAcks(await fx.newTransport())
      const first = await newBus({ transport: dying })
      first.attach('consumer', consumer)
      const acted: string[] = []
      let failures = 0
      let gate: (() => void) | undefined
      let failFirst: string | undefined
      const acting = (id: string): MessageHandler => ({
        id,
        types: [type],
        act: async (message, { deliveryCount }) => {
          acted.push(message.id)
          if (gate !== undefined) await new Promise<void>((resolve) => (gate = resolve))
          if (message.id === failFirst && deliveryCount <= 2) {
            failures++
            throw new Error(`platform busy ${deliveryCount}`)
          }
          return { reply: `done ${message.id}` }
        },
        handle: async (message, { tx, outcome }) => {
          expect(outcome).toEqual({ reply: `done ${message.id}` })
          await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
        },
      })
      await first.subscribe('consumer', [acting('acting')])
      await first.start()
      // While the outside work of a message waits, the database is free: another context writes.
      gate = () => undefined
      const [waiting] = await publish(first, ['k'])
      await until(async () => acted.length === 1, 10_000, 'the outside work to start')
      await producer.transaction((tx) => tx.query('SELECT 1'))
      const release = gate
      gate = undefined
      release?.()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 1,
        10_000,
        'the outcome recorded',
      )
      await first.stop()

      const second = await newBus()
      second.attach('consumer', consumer)
      await second.subscribe('consumer', [acting('acting')])
      await second.start()
      const sent = await publish(second, ['s', 's', 's', 's', 's'])
      failFirst = sent[0]?.id
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 6,
        20_000,
        'six outcomes',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        "SELECT message_id, key FROM effects WHERE key = 's' ORDER BY n",
      )
      expectKeyOrder(rows, sent, ['s'])
      await until(
        async () =>
          (await second.transport.lag({ name: 'consumer.acting', types: [type], ackWaitMs: 2_000 })) === 0,
        20_000,
        'the redelivery of the first message to be settled',
      )
      expect(failures).toBe(2)
      // The redelivered first message was known: not acted on again. The failing one ran three times.
      expect(acted.filter((id) => id === waiting?.id)).toHaveLength(1)
      expect(acted.filter((id) => id === failFirst)).toHaveLength(3)
      expect(acted).toHaveLength(1 + 3 + 4)
      expect(
        await count(consumer, "SELECT count(*) AS n FROM rxt_held WHERE consumer = 'consumer.acting'"),
      ).toBe(0)
    })

    it("a timed-out act is waited for: its retry and its key's next message never overlap it, and each outcome is recorded once", async () => {
      const bus = await newBus()
      bus.attach('consumer', consumer)
      const spans: { id: string; attempt: number; start: number; end: number }[] = []
      let acts = 0
      await bus.subscribe('consumer', [
        {
          id: 'acting-slow',
          types: [type],
          // A second, so that on a loaded machine only the attempt that sleeps past it times out.
          timeoutMs: 1_000,
          act: async (message, { deliveryCount, signal }) => {
            const start = performance.now()
            // The first attempt (of the first message) outlives its timeout (though not a second one), and
            // ignores its signal.
            if (acts++ === 0) await sleep(1_600)
            spans.push({ id: message.id, attempt: deliveryCount, start, end: performance.now() })
            return signal.aborted
          },
          handle: async (message, { tx, outcome }) => {
            expect(outcome).toBe(false)
            await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
          },
        },
      ])
      await bus.start()
      const ctx = producers.get(bus) ?? bus.attach('producer', producer)
      producers.set(bus, ctx)
      const sent = await producer.transaction((tx) =>
        ctx.publishAll(tx, [
          { type, data: fixture, tenantId: 't', key: 'slow' },
          { type, data: fixture, tenantId: 't', key: 'slow' },
        ]),
      )
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 2,
        15_000,
        'both outcomes',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects ORDER BY n',
      )
      expectKeyOrder(rows, sent, ['slow'])
      // Spans in the order they ended: the abandoned first attempt, then its retry, then the next message,
      // each starting after the one before it ended.
      const ordered = [...spans].sort((x, y) => x.end - y.end)
      expect(ordered.map((s) => [s.id, s.attempt])).toEqual([
        [sent[0]?.id, 1],
        [sent[0]?.id, 2],
        [sent[1]?.id, expect.any(Number)],
      ])
      for (let i = 1; i < ordered.length; i++)
        expect(ordered[i]?.start).toBeGreaterThanOrEqual(ordered[i - 1]?.end as number)
    })

    it('dead-letters a non-retryable failure at once', async () => {
      let attempts = 0
      const bus = await newBus()
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        recorder('strict', () => {
          attempts++
          throw new InputError('this payload can never work')
        }),
      ])
      await bus.start()
      await publish(bus, ['k'])
      await until(async () => (await bus.deadLetters()).length === 1, 15_000, 'a dead letter')
      expect((await bus.deadLetters())[0]).toMatchObject({
        error: 'InputError: this payload can never work',
        deliveries: 1,
      })
      expect(attempts).toBe(1)
    })

    it('replays a consumer from a sequence number and from a time', async () => {
      const sequences: number[] = []
      const bus = await newBus()
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [
        {
          ...recorder('replayed'),
          handle: async (message, { tx, sequence }) => {
            sequences.push(sequence as number)
            await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
          },
        },
      ])
      await bus.start()
      const sent = await publish(bus, ['a', 'b', 'c', 'd', 'e'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 5,
        15_000,
        '5 effects',
      )
      const third = [...sequences].sort((x, y) => x - y)[2] as number

      await bus.replay('consumer.replayed', { seq: third })
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 8,
        15_000,
        '3 replayed',
      )
      const again = await consumer.query<{ message_id: string }>(
        'SELECT message_id FROM effects ORDER BY n OFFSET 5',
      )
      // Distinct keys are handled in parallel: the set is what counts, not the order across keys.
      expect(again.rows.map((r) => r.message_id).sort()).toEqual(
        sent
          .slice(2)
          .map((m) => m.id)
          .sort(),
      )

      await bus.replay('consumer.replayed', { time: new Date(Date.now() - 60_000) })
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 13,
        15_000,
        'all replayed',
      )
    })

    it('drops a duplicate publish of one message id', async () => {
      const metrics = new Registry()
      const bus = await newBus({ metrics })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('dedupe')])
      await bus.start()
      const id = randomUUID()
      const envelope = rawEnvelope(id, fixture)
      const message: OutboundMessage = {
        id,
        type,
        key: 'k',
        time: new Date(),
        body: JSON.stringify(envelope),
      }
      await bus.transport.publish([message])
      await bus.transport.publish([message])
      const [marker] = await publish(bus, ['k'])
      await until(
        async () =>
          (await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [marker?.id])) ===
          1,
        15_000,
        'the marker',
      )
      // Acknowledgements are settled after the handler's transaction, so the marker's effect can be
      // visible a moment before its delivery is: wait for nothing to be owed, then count again.
      await until(
        async () =>
          (await bus.transport.lag({ name: 'consumer.dedupe', types: [type], ackWaitMs: 2_000 })) === 0,
        15_000,
        'nothing owed',
      )
      expect(await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [id])).toBe(1)
      // The transport dropped the second publish: the inbox never saw it as a duplicate delivery.
      const duplicates = await metrics.getSingleMetric('rxt_bus_duplicates_total')?.get()
      expect(duplicates?.values.reduce((sum, v) => sum + v.value, 0) ?? 0).toBe(0)
    })

    it('shares a consumer between two replicas, and no message is handled twice', async () => {
      const handledBy = new Map<string, string[]>()
      const replica = async (name: string) => {
        const bus = await newBus({ fetchBatch: 5, concurrency: 2 })
        bus.attach('consumer', consumer)
        await bus.subscribe('consumer', [
          recorder('shared', async (m) => {
            handledBy.set(m.id, [...(handledBy.get(m.id) ?? []), name])
            await sleep(2)
          }),
        ])
        await bus.start()
        return bus
      }
      const one = await replica('one')
      await replica('two')
      const keys = Array.from({ length: 120 }, (_, i) => `key-${i}`)
      const sent = await publish(one, keys)
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 120,
        30_000,
        '120 effects',
      )
      expect(sent.every((m) => handledBy.get(m.id)?.length === 1)).toBe(true)
      const perReplica = [...handledBy.values()].flat()
      expect(perReplica.filter((r) => r === 'one').length).toBeGreaterThan(0)
      expect(perReplica.filter((r) => r === 'two').length).toBeGreaterThan(0)
    })

    it('loses nothing when the relay dies between publishing a batch and clearing it', async () => {
      const real = await fx.newTransport()
      let crashes = 1
      const crashing: Transport = {
        ...real,
        publish: async (messages) => {
          await real.publish(messages)
          if (crashes-- > 0) throw new Error('relay died after publishing')
        },
      }
      const first = await newBus({ transport: crashing, relayBatch: 10 })
      first.attach('consumer', consumer)
      await first.subscribe('consumer', [recorder('relayed')])
      await first.start()
      const sent = await publish(
        first,
        Array.from({ length: 25 }, (_, i) => `k${i % 5}`),
      )
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 25,
        20_000,
        '25 effects',
      )
      await sleep(200)
      expect(await count(consumer, 'SELECT count(DISTINCT message_id) AS n FROM effects')).toBe(25)
      expect(await count(consumer, 'SELECT count(*) AS n FROM effects')).toBe(25)
      expect(await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')).toBe(0)
      expect(sent).toHaveLength(25)
    })

    it('a relay whose lease was taken over during a publish leaves the rows to the new owner', async () => {
      const real = await fx.newTransport()
      let takeOver = true
      const slow: Transport = {
        ...real,
        publish: async (messages) => {
          // While this publish is under way, another replica takes the lease (this one's ran out).
          if (takeOver) {
            takeOver = false
            await producer.query(
              "UPDATE rxt_relay SET owner = 'another-replica', lease_until = now() + interval '1 hour'",
            )
          }
          await real.publish(messages)
        },
      }
      const bus = await newBus({ transport: slow })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('fenced')])
      await bus.start()
      const sent = await publish(bus, ['a', 'b', 'c'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 3,
        15_000,
        'the three handled',
      )
      // Not its rows to delete any more: the lease's owner sends them (again).
      expect(await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')).toBe(3)
      await producer.query("UPDATE rxt_relay SET lease_until = now() - interval '1 second'")
      await until(
        async () => (await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')) === 0,
        15_000,
        'the rows sent by the next owner',
      )
      await until(
        async () =>
          (await bus.transport.lag({ name: 'consumer.fenced', types: [type], ackWaitMs: 2_000 })) === 0,
        15_000,
        'everything settled',
      )
      expect(await count(consumer, 'SELECT count(*) AS n FROM effects')).toBe(3)
      expect(sent).toHaveLength(3)
    })

    it('loses nothing while many transactions publish at once', async () => {
      // Sequence numbers are taken in one order and committed in another: the relay must not skip a
      // row that commits late with a low number.
      const bus = await newBus({ relayBatch: 7, relayPollMs: 5 })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('concurrent')])
      await bus.start()
      const ctx = bus.attach('producer', producer)
      await Promise.all(
        Array.from({ length: 8 }, (_, writer) =>
          (async () => {
            for (let round = 0; round < 5; round++) {
              await producer.transaction(async (tx) => {
                for (let i = 0; i < 4; i++) {
                  await ctx.publish(tx, { type, data: fixture, tenantId: 't', key: `w${writer}` })
                  await sleep(Math.random() * 3)
                }
              })
            }
          })(),
        ),
      )
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 160,
        30_000,
        '160 effects',
      )
      expect(await count(consumer, 'SELECT count(DISTINCT message_id) AS n FROM effects')).toBe(160)
    })

    it('delivers a backlog larger than what a consumer holds at once, in full and in order', async () => {
      const bus = await newBus({ fetchBatch: 256 })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('backlog')])
      const ctx = bus.attach('producer', producer)
      const sent: Envelope[] = []
      for (let t = 0; t < 5; t++) {
        sent.push(
          ...(await producer.transaction((tx) =>
            ctx.publishAll(
              tx,
              Array.from({ length: 500 }, (_, i) => ({
                type,
                data: fixture,
                tenantId: 't',
                key: `k${i % 4}`,
              })),
            ),
          )),
        )
      }
      await bus.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 2500,
        60_000,
        '2500 effects',
      )
      const { rows } = await consumer.query<{ message_id: string; key: string }>(
        'SELECT message_id, key FROM effects ORDER BY n',
      )
      expectKeyOrder(rows, sent, ['k0', 'k3'])
    }, 90_000)

    it('prunes inbox rows and settled messages past the retention, and keeps flowing', async () => {
      const bus = await newBus({ retentionMs: 1 })
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('pruned')])
      await bus.start()
      await publish(bus, ['a', 'b', 'c'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 3,
        15_000,
        '3 effects',
      )
      await until(
        async () =>
          (await bus.transport.lag({ name: 'consumer.pruned', types: [type], ackWaitMs: 2_000 })) === 0,
        15_000,
        'all settled',
      )
      await sleep(20)
      const pruned = await bus.prune()
      expect(pruned.inbox).toBe(3)
      // Both transports delete what every consumer settled before the horizon (NATS purges its stream).
      expect(pruned.transport).toBe(3)
      expect(await count(consumer, 'SELECT count(*) AS n FROM rxt_inbox')).toBe(0)
      await publish(bus, ['d'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 4,
        15_000,
        'a 4th effect',
      )
    })

    it('after a replay, a message from before the replay point whose ack was lost is not handled again', async () => {
      const ackless = withoutAcks(await fx.newTransport())
      const sequences = new Map<string, number>()
      const handler: MessageHandler = {
        ...recorder('lost-ack'),
        handle: async (message, { tx, sequence }) => {
          sequences.set(message.id, sequence as number)
          await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
        },
      }
      // A long ack wait: the replay below happens while the lost ack's message is still leased.
      const first = await newBus({ transport: ackless, ackWaitMs: 5_000 })
      first.attach('consumer', consumer)
      await first.subscribe('consumer', [handler])
      await first.start()
      const [early] = await publish(first, ['k'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 1,
        15_000,
        'an effect',
      )
      await first.stop()

      const second = await newBus()
      second.attach('consumer', consumer)
      await second.subscribe('consumer', [handler])
      await second.start()
      const [late] = await publish(second, ['k2'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) >= 2,
        15_000,
        'a 2nd effect',
      )
      // Replay from the later message on: the earlier one, redelivered for its lost ack, stays handled once.
      await second.replay('consumer.lost-ack', { seq: sequences.get(late?.id as string) as number })
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 3,
        15_000,
        'the replay',
      )
      await until(
        async () =>
          (await second.transport.lag({ name: 'consumer.lost-ack', types: [type], ackWaitMs: 2_000 })) === 0,
        20_000,
        'everything settled',
      )
      expect(
        await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [early?.id]),
      ).toBe(1)
      expect(
        await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [late?.id]),
      ).toBe(2)
    })

    it('never moves a consumer forward: a replay point past its position delivers what lies between', async () => {
      const sequences = new Map<string, number>()
      const handler: MessageHandler = {
        ...recorder('behind'),
        handle: async (message, { tx, sequence }) => {
          sequences.set(message.id, sequence as number)
          await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
        },
      }
      const first = await newBus()
      first.attach('consumer', consumer)
      await first.subscribe('consumer', [handler])
      await first.start()
      const [head] = await publish(first, ['a'])
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 1,
        15_000,
        'the first effect',
      )
      await first.stop()
      // Published (and relayed by another process) while the consumer is down: it is behind all four.
      const relaying = await newBus()
      await relaying.start()
      const behind = await publish(relaying, ['b', 'c', 'd', 'e'])
      await until(
        async () => (await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')) === 0,
        15_000,
        'the four relayed',
      )
      const second = await newBus()
      second.attach('consumer', consumer)
      await second.subscribe('consumer', [handler])
      // The point is the third of the four: the first two of them must still be handled.
      await second.replay('consumer.behind', { seq: (sequences.get(head?.id as string) as number) + 3 })
      await second.start()
      await until(
        async () => (await count(consumer, 'SELECT count(*) AS n FROM effects')) === 5,
        15_000,
        'the four published while it was down',
      )
      await until(
        async () =>
          (await second.transport.lag({ name: 'consumer.behind', types: [type], ackWaitMs: 2_000 })) === 0,
        15_000,
        'everything settled',
      )
      await sleep(100)
      const { rows } = await consumer.query<{ message_id: string }>(
        'SELECT message_id FROM effects ORDER BY n',
      )
      expect(rows.map((r) => r.message_id).sort()).toEqual([head, ...behind].map((m) => m?.id).sort())
    })

    it('refuses a replay from the future or past the end, and a key or size no transport carries', async () => {
      const bus = await newBus()
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('bounds')])
      await bus.start()
      await expect(bus.replay('consumer.bounds', { time: new Date(Date.now() + 60_000) })).rejects.toThrow(
        /in the future/,
      )
      await expect(bus.replay('consumer.bounds', { seq: 1_000_000_000 })).rejects.toBeInstanceOf(InputError)
      const ctx = bus.attach('producer', producer)
      await expect(
        producer.transaction((tx) =>
          ctx.publish(tx, { type, data: fixture, tenantId: 't', key: 'has space' }),
        ),
      ).rejects.toThrow(/\/key must be printable ASCII/)
      // The consumer still runs after the refused replays.
      const [sent] = await producer.transaction((tx) =>
        ctx.publishAll(tx, [{ type, data: fixture, tenantId: 't', key: 'ok' }]),
      )
      await until(
        async () =>
          (await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [sent?.id])) ===
          1,
        15_000,
        'the message after the refusals',
      )
    })

    it('refuses a payload that violates its schema, and writes nothing', async () => {
      const bus = await newBus()
      const ctx = bus.attach('producer', producer)
      await producer.query('CREATE TABLE IF NOT EXISTS notes (t text)')
      const attempt = producer.transaction(async (tx) => {
        await tx.query("INSERT INTO notes VALUES ('written before the publish')")
        await ctx.publish(tx, { type, data: { unexpected: true }, tenantId: 't' })
      })
      await expect(attempt).rejects.toBeInstanceOf(InputError)
      const error = (await attempt.catch((e: unknown) => e)) as InputError
      expect(error.violations.length).toBeGreaterThan(0)
      expect(error.violations.every((v) => v.path.startsWith('/data'))).toBe(true)
      expect(await count(producer, 'SELECT count(*) AS n FROM rxt_outbox')).toBe(0)
      expect(await count(producer, 'SELECT count(*) AS n FROM notes')).toBe(0)
    })

    it('dead-letters an invalid message it receives with the validation error, and keeps running', async () => {
      const bus = await newBus()
      bus.attach('consumer', consumer)
      await bus.subscribe('consumer', [recorder('validating')])
      await bus.start()
      const id = randomUUID()
      const bad = rawEnvelope(id, { nope: 1 })
      await bus.transport.publish([{ id, type, key: 'k', time: new Date(), body: JSON.stringify(bad) }])
      await bus.transport.publish([{ id: randomUUID(), type, key: 'k', time: new Date(), body: '{not json' }])
      const [good] = await publish(bus, ['k'])
      await until(
        async () =>
          (await count(consumer, 'SELECT count(*) AS n FROM effects WHERE message_id = $1', [good?.id])) ===
          1,
        15_000,
        'the valid message',
      )
      const letters = await bus.deadLetters()
      expect(letters).toHaveLength(2)
      expect(letters.find((l) => l.messageId === id)?.error).toMatch(/^invalid message: \/data/)
      expect(letters.find((l) => l.messageId === null)?.error).toMatch(/^not JSON/)
    })
  })
}
