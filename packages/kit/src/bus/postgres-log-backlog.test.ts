import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { loadMigrations } from '../db/index.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { createPostgresLog } from './postgres-log.ts'
import { postgresLogBacklog } from './postgres-log-backlog.ts'
import type { OutboundMessage, Transport } from './transport.ts'

const message = (type = 'evt.usage.sample'): OutboundMessage => {
  const id = randomUUID()
  return { id, type, key: 'k', body: JSON.stringify({ id }), time: new Date() }
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`the Postgres log's backlog on ${target.name}`, () => {
    let db: TestDatabase | undefined
    let transport: Transport | undefined
    afterEach(async () => {
      await transport?.close()
      await db?.dispose()
    })

    it('counts what a consumer owes, delivered or not, and dates the oldest of it', async () => {
      db = await target.create()
      transport = await createPostgresLog({ database: db.database, pollMs: 25 })
      const backlog = postgresLogBacklog(
        await db.database.openContext(
          'bus',
          await loadMigrations(new URL('./migrations/log/', import.meta.url)),
        ),
      )
      const spec = { name: 'test.backlog', types: ['evt.usage.sample'], ackWaitMs: 30_000 }
      const consumer = await transport.consumer(spec)
      expect(await backlog(spec)).toEqual({ messages: 0, oldestAt: undefined })

      const before = new Date(Date.now() - 1_000)
      await transport.publish([message(), message(), message('evt.usage.other')])
      const owed = await backlog(spec)
      // Two of its type; the other type is not its.
      expect(owed.messages).toBe(2)
      expect(owed.oldestAt?.getTime()).toBeGreaterThanOrEqual(before.getTime())
      expect(owed.oldestAt?.getTime()).toBeLessThanOrEqual(Date.now() + 1_000)

      // One delivered and in hand, one settled: it owes both until it settles them.
      const [first, second] = await consumer.fetch(2, 1_000)
      expect(await backlog(spec)).toMatchObject({ messages: 2, oldestAt: owed.oldestAt })
      await first?.ack()
      await second?.ack()
      expect(await backlog(spec)).toEqual({ messages: 0, oldestAt: undefined })
      expect(await transport.lag(spec)).toBe(0)
      await consumer.close()
    })
  })
}
