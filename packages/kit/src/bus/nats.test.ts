import { randomUUID } from 'node:crypto'
import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect, nanos } from '@nats-io/transport-node'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { InputError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { deleteStreams, until } from '../testing/bus.ts'
import { createNatsTransport, streamLimitsOf } from './nats.ts'
import type { OutboundMessage, Transport } from './transport.ts'

const natsUrl = inject('natsUrl')
const skipped = inject('natsSkipReason')

const message = (): OutboundMessage => {
  const id = randomUUID()
  return { id, type: 'evt.usage.sample', key: 'k', body: JSON.stringify({ id }), time: new Date() }
}

describe.skipIf(skipped !== '')('the NATS transport', () => {
  const namespace = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`
  let transport: Transport | undefined
  afterAll(async () => {
    await transport?.close()
    await deleteStreams(natsUrl, namespace)
  })

  it('publishes a batch once the stream acknowledges it, and makes a deleted stream again', async () => {
    transport = await createNatsTransport({
      url: natsUrl,
      namespace,
      log: createLogger({ level: 'silent' }),
      publishTimeoutMs: 2_000,
    })
    const spec = { name: 'test.recreated', types: ['evt.usage.sample'], ackWaitMs: 2_000 }
    const consumer = await transport.consumer(spec)
    await transport.publish(Array.from({ length: 300 }, message))
    let received = 0
    await until(
      async () => {
        for (const d of await consumer.fetch(300, 200)) {
          received++
          await d.ack()
        }
        return received === 300
      },
      15_000,
      'the first 300',
    )
    await consumer.close()
    // The stream disappears behind the transport's back: the next publish makes it again (it used to
    // fail with "no stream takes its subject" for good), and a consumer declared then gets it.
    await deleteStreams(natsUrl, namespace)
    const after = [message(), message()]
    await transport.publish(after)
    const fresh = await transport.consumer({ ...spec, name: 'test.after-deletion' })
    const seen: string[] = []
    await until(
      async () => {
        for (const d of await fresh.fetch(10, 200)) {
          seen.push((JSON.parse(d.body) as { id: string }).id)
          await d.ack()
        }
        return seen.length >= 2
      },
      15_000,
      'the messages published after the deletion',
    )
    expect(seen).toEqual(after.map((m) => m.id))
    await fresh.close()
    expect(transport.status?.()).toEqual({ connected: true, reconnects: 0 })
  })
})

describe('the NATS stream settings', () => {
  const log = createLogger({ level: 'silent' })

  it('default to 30 days, no byte limit, one replica and a 2-minute duplicate window', () => {
    expect(streamLimitsOf({ url: 'nats://x', namespace: 'n', log })).toEqual({
      maxAgeMs: 2_592_000_000,
      maxBytes: -1,
      replicas: 1,
      duplicateWindowMs: 120_000,
    })
  })

  it('refuse a duplicate window shorter than the publish timeout or longer than the max age', () => {
    const attempt = (more: object) => () => streamLimitsOf({ url: 'nats://x', namespace: 'n', log, ...more })
    expect(attempt({ duplicateWindowMs: 5_000, publishTimeoutMs: 10_000 })).toThrow(InputError)
    expect(attempt({ duplicateWindowMs: 5_000, publishTimeoutMs: 10_000 })).toThrow(
      'the duplicate window (5000 ms) must be at least the publish timeout (10000 ms)',
    )
    expect(attempt({ duplicateWindowMs: 7_200_000, maxAgeMs: 3_600_000 })).toThrow(
      'the duplicate window (7200000 ms) must be at most the max age (3600000 ms)',
    )
    expect(attempt({ replicas: 6 })).toThrow('replicas must be 1 to 5, not 6')
    expect(attempt({ maxBytes: 0 })).toThrow('maxBytes must be -1 (no limit) or a number of bytes, not 0')
  })
})

describe.skipIf(skipped !== '')('the NATS streams', () => {
  const namespace = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`
  const log = createLogger({ level: 'silent' })
  const stream = `${namespace}_EVT_USAGE`.toUpperCase()
  const transports: Transport[] = []
  afterAll(async () => {
    for (const t of transports) await t.close()
    await deleteStreams(natsUrl, namespace)
  })

  const infoOf = async (name: string) => {
    const nc = await connect({ servers: natsUrl })
    try {
      return await (await jetstreamManager(nc)).streams.info(name)
    } finally {
      await nc.close()
    }
  }

  it('are made with limits retention on file, the configured limits and discard new', async () => {
    const transport = await createNatsTransport({
      url: natsUrl,
      namespace,
      log,
      maxAgeMs: 5 * 3_600_000,
      maxBytes: 64 * 1024 * 1024,
      replicas: 1,
      duplicateWindowMs: 90_000,
    })
    transports.push(transport)
    await transport.publish([message()])
    const { config } = await infoOf(stream)
    expect(config).toMatchObject({
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 18_000_000_000_000,
      max_bytes: 67_108_864,
      discard: DiscardPolicy.New,
      num_replicas: 1,
      duplicate_window: 90_000_000_000,
    })
  })

  it('bring an existing stream to the configured limits', async () => {
    // A stream as an earlier version made it: 7 days, 2 minutes, no byte limit, discard old.
    const nc = await connect({ servers: natsUrl })
    const other = `${namespace}_EVT_OLD`.toUpperCase()
    try {
      await (await jetstreamManager(nc)).streams.add({
        name: other,
        subjects: [`${namespace}.evt.old`, `${namespace}.evt.old.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: nanos(7 * 24 * 3_600_000),
        duplicate_window: nanos(120_000),
        discard: DiscardPolicy.Old,
      })
    } finally {
      await nc.close()
    }
    const transport = await createNatsTransport({
      url: natsUrl,
      namespace,
      log,
      maxAgeMs: 720 * 3_600_000,
      maxBytes: 2 * 1024 * 1024,
      duplicateWindowMs: 600_000,
    })
    transports.push(transport)
    await transport.publish([{ ...message(), type: 'evt.old.thing' }])
    const { config, state } = await infoOf(other)
    expect(config).toMatchObject({
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 2_592_000_000_000_000,
      max_bytes: 2_097_152,
      discard: DiscardPolicy.New,
      num_replicas: 1,
      duplicate_window: 600_000_000_000,
    })
    expect(state.messages).toBe(1)
  })

  it('refuse publishes when full, and lose nothing stored', async () => {
    const full = `${namespace}_EVT_FULL`.toUpperCase()
    const transport = await createNatsTransport({ url: natsUrl, namespace, log, maxBytes: 1_048_576 })
    transports.push(transport)
    const big = (): OutboundMessage => ({ ...message(), type: 'evt.full.thing', body: 'x'.repeat(200_000) })
    const first = Array.from({ length: 4 }, big)
    await transport.publish(first)
    await expect(transport.publish(Array.from({ length: 4 }, big))).rejects.toThrow(/maximum bytes/i)
    const { state } = await infoOf(full)
    // The refused batch stored what fitted; none of the first four went to make room.
    expect(state.first_seq).toBe(1)
    expect(state.messages).toBeGreaterThanOrEqual(4)
    expect(state.messages).toBeLessThan(8)
  })
})

describe.skipIf(skipped !== '')('pruning the NATS streams', () => {
  const namespace = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`
  const stream = `${namespace}_EVT_USAGE`.toUpperCase()
  let transport: Transport | undefined
  afterAll(async () => {
    await transport?.close()
    await deleteStreams(natsUrl, namespace)
  })

  const stateOf = async () => {
    const nc = await connect({ servers: natsUrl })
    try {
      return (await (await jetstreamManager(nc)).streams.info(stream)).state
    } finally {
      await nc.close()
    }
  }

  it('drops only what every consumer settled before the horizon, and keeps what one still owes', async () => {
    transport = await createNatsTransport({ url: natsUrl, namespace, log: createLogger({ level: 'silent' }) })
    const spec = { name: 'test.pruned', types: ['evt.usage.sample'], ackWaitMs: 2_000 }
    const consumer = await transport.consumer(spec)
    const early = [message(), message()]
    await transport.publish(early)
    // The horizon: after the first two were stored, before the rest.
    await new Promise((resolve) => setTimeout(resolve, 20))
    const horizon = new Date()
    await new Promise((resolve) => setTimeout(resolve, 20))
    const late = [message(), message(), message()]
    await transport.publish(late)

    // Two settled, three owed: nothing past the consumer's floor goes, however old. (A short ack wait:
    // what the closed consumer had prefetched comes back soon.)
    let settled = 0
    await until(
      async () => {
        for (const d of await consumer.fetch(2 - settled, 200)) {
          settled++
          await d.ack()
        }
        return settled === 2 && (await transport?.lag(spec)) === 3
      },
      15_000,
      'two settled',
    )
    await consumer.close()
    expect(await transport.prune(new Date(0))).toBe(0)
    expect(await transport.prune(new Date(Date.now() + 3_600_000))).toBe(2)
    expect(await stateOf()).toMatchObject({ first_seq: 3, messages: 3 })

    // All settled: what was stored before the horizon is gone already; the rest goes at its time.
    const again = await transport.consumer(spec)
    const seen: string[] = []
    await until(
      async () => {
        for (const d of await again.fetch(10, 200)) {
          seen.push((JSON.parse(d.body) as { id: string }).id)
          await d.ack()
        }
        return new Set(seen).size === 3 && (await transport?.lag(spec)) === 0
      },
      15_000,
      'the rest settled',
    )
    await again.close()
    // At least once, and redelivered in the server's order: what the first consumer had prefetched.
    expect([...new Set(seen)].sort()).toEqual(late.map((m) => m.id).sort())
    expect(await transport.prune(horizon)).toBe(0)
    expect(await transport.prune(new Date(Date.now() + 3_600_000))).toBe(3)
    expect(await stateOf()).toMatchObject({ first_seq: 6, messages: 0 })
  })

  it('drops what a stream nobody consumes stored before the horizon', async () => {
    const other = `${namespace}_EVT_UNREAD`.toUpperCase()
    const t = await createNatsTransport({ url: natsUrl, namespace, log: createLogger({ level: 'silent' }) })
    try {
      await t.publish([0, 1, 2].map(() => ({ ...message(), type: 'evt.unread.thing' })))
      await new Promise((resolve) => setTimeout(resolve, 20))
      const horizon = new Date()
      await new Promise((resolve) => setTimeout(resolve, 20))
      await t.publish([{ ...message(), type: 'evt.unread.thing' }])
      // Only the streams this transport used are pruned: the stream of evt.usage is not one of them.
      expect(await t.prune(horizon)).toBe(3)
      const nc = await connect({ servers: natsUrl })
      try {
        expect((await (await jetstreamManager(nc)).streams.info(other)).state).toMatchObject({
          first_seq: 4,
          messages: 1,
        })
      } finally {
        await nc.close()
      }
    } finally {
      await t.close()
    }
  })
})
