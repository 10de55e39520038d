import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { createPostgresLog } from './postgres-log.ts'
import type { Transport } from './transport.ts'

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`the Postgres log opened again on ${target.name}`, () => {
    let db: TestDatabase | undefined
    const transports: Transport[] = []
    afterEach(async () => {
      for (const t of transports.splice(0)) await t.close()
      await db?.dispose()
    })

    it("waits out a lease an earlier run left, unless it is the log's only process (exclusive)", async () => {
      db = await target.create()
      const spec = { name: 'test.lease', types: ['evt.usage.sample'], ackWaitMs: 30_000 }
      const first = await createPostgresLog({ database: db.database, pollMs: 25 })
      transports.push(first)
      const id = randomUUID()
      await first.publish([
        { id, type: 'evt.usage.sample', key: 'k', body: JSON.stringify({ id }), time: new Date() },
      ])
      // Delivered and never settled: its run ends holding the lease.
      const [held] = await (await first.consumer(spec)).fetch(1, 1_000)
      expect(held?.deliveryCount).toBe(1)

      // Another process sharing the log may still be handling it: it waits for the lease to run out.
      const shared = await createPostgresLog({ database: db.database, pollMs: 25 })
      transports.push(shared)
      expect(await (await shared.consumer(spec)).fetch(1, 500)).toEqual([])

      // The log's only process knows the lease is a dead run's: delivered again at once.
      const sole = await createPostgresLog({ database: db.database, pollMs: 25, exclusive: true })
      transports.push(sole)
      const [again] = await (await sole.consumer(spec)).fetch(1, 1_000)
      expect(again).toMatchObject({ key: 'k', deliveryCount: 2 })
      expect(JSON.parse(again?.body ?? '{}')).toEqual({ id })
      await again?.ack()
      expect(await sole.lag(spec)).toBe(0)
    })
  })
}
