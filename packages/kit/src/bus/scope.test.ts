// A request's scope on the bus, on every transport: the correlation id and the caller (actor) travel
// from the request to the messages it causes, and from a handled message to the ones its handler
// publishes.
import type { Envelope } from '@rxt/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ContextDb } from '../db/index.ts'
import { withScope } from '../scope.ts'
import { openBusContext, type TransportFixture, transportTargets, until } from '../testing/bus.ts'
import { type Bus, createBus } from './bus.ts'
import { effects, fixture, testBusOptions, type } from './conformance.fixtures.ts'

for (const target of transportTargets()) {
  describe.skipIf(target.skipped !== undefined)(`the scope on the bus: ${target.name}`, () => {
    let fx: TransportFixture
    let producer: ContextDb
    let consumer: ContextDb
    let bus: Bus

    beforeEach(async () => {
      fx = await target.create()
      producer = await openBusContext(fx.database, 'producer')
      consumer = await openBusContext(fx.database, 'consumer', effects)
      bus = createBus(testBusOptions(await fx.newTransport()))
    })
    afterEach(async () => {
      await bus.stop().catch(() => undefined)
      await fx.dispose()
    })

    it("carries a request's correlation id and caller to what it causes, and to what that causes", async () => {
      bus.attach('consumer', consumer)
      const seen: Envelope[] = []
      await bus.subscribe('consumer', [
        {
          id: 'follower',
          types: [type],
          handle: async (message, { publish }) => {
            seen.push(message)
            if (message.key === 'first')
              await publish({ type, data: fixture, tenantId: 'tenant-a', key: 'then' })
          },
        },
      ])
      await bus.start()
      const ctx = bus.attach('producer', producer)
      const publishOne = (key: string) =>
        producer.transaction(async (tx) =>
          ctx.publish(tx, { type, data: fixture, tenantId: 'tenant-a', key }),
        )
      const first = await withScope({ correlationId: 'req-42', actor: 'user:u-1' }, () => publishOne('first'))
      await until(() => seen.some((m) => m.key === 'then'), 20_000, 'the follow-up message')
      expect(first).toMatchObject({ correlationId: 'req-42', actor: 'user:u-1', causationId: null })
      expect(seen.find((m) => m.key === 'then')).toMatchObject({
        correlationId: 'req-42',
        actor: 'user:u-1',
        causationId: first.id,
      })
      expect(await publishOne('no-scope')).not.toHaveProperty('actor')
    })
  })
}
