import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../log.ts'
import { deleteStreams, until } from '../testing/bus.ts'
import { createNatsTransport } from './nats.ts'
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
