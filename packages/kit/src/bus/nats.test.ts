import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../log.ts'
import { deleteStreams } from '../testing/bus.ts'
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

  it('publishes a batch once the stream acknowledges it, and fails clearly when no stream takes it', async () => {
    transport = await createNatsTransport({
      url: natsUrl,
      namespace,
      log: createLogger({ level: 'silent' }),
      publishTimeoutMs: 2_000,
    })
    await transport.publish(Array.from({ length: 300 }, message))
    // The stream disappears behind the transport's back: the publish is answered "no responders".
    await deleteStreams(natsUrl, namespace)
    await expect(transport.publish([message(), message()])).rejects.toThrow(/no stream takes its subject/)
  })
})
