import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../log.ts'
import { deleteStreams, until } from '../testing/bus.ts'
import { createBacklogWatch, limitRatio } from './backlog.ts'
import { createNatsTransport } from './nats.ts'
import type { OutboundMessage, Transport } from './transport.ts'

const natsUrl = inject('natsUrl')
const skipped = inject('natsSkipReason')

const message = (type = 'evt.usage.sample', body?: string): OutboundMessage => {
  const id = randomUUID()
  return { id, type, key: 'k', body: body ?? JSON.stringify({ id }), time: new Date() }
}

function capture() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, log: createLogger({ level: 'info', destination }) }
}

const gaugeValue = async (registry: Registry, metric: string, label: Record<string, string>) => {
  const { values } = await (
    registry.getSingleMetric(metric) as {
      get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }>
    }
  ).get()
  return values.find((v) => Object.entries(label).every(([k, x]) => v.labels[k] === x))?.value
}

describe('limitRatio', () => {
  const now = new Date('2030-01-01T12:00:00Z')
  it("is the larger of the first message's age over the max age and the bytes over the max bytes", () => {
    const firstAt = new Date('2030-01-01T09:00:00Z')
    expect(
      limitRatio({ name: 's', firstAt, bytes: 100, maxAgeMs: 4 * 3_600_000, maxBytes: 1_000 }, now),
    ).toBe(0.75)
    expect(
      limitRatio({ name: 's', firstAt, bytes: 900, maxAgeMs: 4 * 3_600_000, maxBytes: 1_000 }, now),
    ).toBe(0.9)
  })
  it('is 0 for an empty stream or one without limits', () => {
    expect(
      limitRatio({ name: 's', firstAt: undefined, bytes: 0, maxAgeMs: 3_600_000, maxBytes: 1_000 }, now),
    ).toBe(0)
    expect(
      limitRatio(
        { name: 's', firstAt: new Date(0), bytes: 5_000, maxAgeMs: undefined, maxBytes: undefined },
        now,
      ),
    ).toBe(0)
  })
})

describe.skipIf(skipped !== '')('the backlog watch on NATS', () => {
  const namespace = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`
  const transports: Transport[] = []
  afterAll(async () => {
    for (const t of transports) await t.close()
    await deleteStreams(natsUrl, namespace)
  })

  it("reports the age of a consumer's oldest unsettled message, and 0 for one that owes nothing", async () => {
    const transport = await createNatsTransport({
      url: natsUrl,
      namespace,
      log: createLogger({ level: 'silent' }),
    })
    transports.push(transport)
    const idle = { name: 'test.idle', types: ['evt.usage.sample'], ackWaitMs: 30_000 }
    const busy = { name: 'test.busy', types: ['evt.usage.sample'], ackWaitMs: 30_000 }
    // Declared, then stopped: the message waits for the idle consumer while the busy one settles it.
    await (await transport.consumer(idle)).close()
    const consumer = await transport.consumer(busy)
    await transport.publish([message()])
    let settled = 0
    await until(
      async () => {
        for (const d of await consumer.fetch(1, 200)) {
          settled++
          await d.ack()
        }
        return settled === 1 && (await transport.lag(busy)) === 0
      },
      15_000,
      'the busy consumer settled it',
    )
    await consumer.close()
    await new Promise((resolve) => setTimeout(resolve, 20))

    const registry = new Registry()
    createBacklogWatch({
      registry,
      transport,
      log: createLogger({ level: 'silent' }),
      consumers: () => [idle, busy],
    })
    const idleAge = await gaugeValue(registry, 'rxt_bus_consumer_oldest_pending_seconds', {
      consumer: idle.name,
    })
    expect(idleAge).toBeGreaterThan(0)
    expect(idleAge).toBeLessThan(60)
    expect(
      await gaugeValue(registry, 'rxt_bus_consumer_oldest_pending_seconds', { consumer: busy.name }),
    ).toBe(0)
    // The stream's fill against its 30 days: tiny, but there.
    const ratio = await gaugeValue(registry, 'rxt_bus_stream_limit_ratio', {
      stream: `${namespace}_EVT_USAGE`.toUpperCase(),
    })
    expect(ratio).toBeGreaterThan(0)
    expect(ratio).toBeLessThan(0.01)
  })

  it('warns once when a stream reaches 80% of its limits, and again only after it went back under', async () => {
    const transport = await createNatsTransport({
      url: natsUrl,
      namespace,
      log: createLogger({ level: 'silent' }),
      maxBytes: 1_048_576,
    })
    transports.push(transport)
    const stream = `${namespace}_EVT_FULL`.toUpperCase()
    const { lines, log } = capture()
    const watch = createBacklogWatch({ registry: new Registry(), transport, log, consumers: () => [] })
    const warnings = () => lines.filter((l) => l.level === 'warn' && l.stream === stream)
    const fill = () => Array.from({ length: 4 }, () => message('evt.full.thing', 'x'.repeat(220_000)))

    await transport.publish(fill())
    await watch.check()
    await watch.check()
    expect(warnings()).toHaveLength(1)
    expect(warnings()[0]).toMatchObject({ limit: 'bytes', maxBytes: 1_048_576 })
    expect(watch.nearLimits()).toEqual([{ stream, ratio: expect.any(Number), limit: 'bytes' }])
    expect(watch.nearLimits()[0]?.ratio).toBeGreaterThanOrEqual(0.8)

    // Nobody consumes the stream: prune empties it, and the watch says so once.
    expect(await transport.prune(new Date(Date.now() + 3_600_000))).toBe(4)
    await watch.check()
    expect(watch.nearLimits()).toEqual([])
    expect(
      lines.filter((l) => l.stream === stream && l.msg === 'a bus stream is back under its limits'),
    ).toHaveLength(1)

    await transport.publish(fill())
    await watch.check()
    expect(warnings()).toHaveLength(2)
  })
})
