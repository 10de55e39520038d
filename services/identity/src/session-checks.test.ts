import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ContextDb, loadMigrations } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSessionChecks, sessionCheckTtlMs, sessionRefreshAfterMs } from './session-checks.ts'

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`session checks on ${target.name}`, () => {
    let handle: TestDatabase
    let db: ContextDb

    beforeAll(async () => {
      handle = await target.create()
      db = await handle.database.openContext(
        'identity',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
        {
          kitMigrations: await loadMigrations(
            new URL('../../../packages/kit/src/migrations/context/', import.meta.url),
          ),
        },
      )
    })
    afterAll(async () => {
      await handle?.dispose()
    })

    /** A user with a live session, as a sign-in leaves them. */
    const signedIn = async () => {
      const userId = randomUUID()
      const sessionId = randomUUID()
      await db.query(
        `INSERT INTO users (id, email, email_key, name, password_hash) VALUES ($1, $2, $2, 'someone', 'x')`,
        [userId, `${userId}@example.com`],
      )
      await db.query('INSERT INTO sessions (id, user_id) VALUES ($1, $2)', [sessionId, userId])
      return { userId, sessionId }
    }
    /** The session ended through another replica: only the database knows. */
    const endedElsewhere = (sessionId: string) =>
      db.query(`UPDATE sessions SET revoked_at = now(), revoked_because = 'logout' WHERE id = $1`, [
        sessionId,
      ])

    it('reads a session in use again before its answer expires, and so sees its end sooner', async () => {
      const checks = createSessionChecks(db)
      const { userId, sessionId } = await signedIn()
      const read = Date.now()
      await checks.requireLive(sessionId, userId)
      await sleep(sessionRefreshAfterMs + 100)
      await endedElsewhere(sessionId)
      // Answered from what was read (still within its lifetime), and read again behind it.
      await checks.requireLive(sessionId, userId)
      await sleep(200)
      // Had it waited for the answer to expire, the session would still pass until then.
      expect(Date.now() - read).toBeLessThan(sessionCheckTtlMs)
      await expect(checks.requireLive(sessionId, userId)).rejects.toThrow(
        /session of this access token has ended/,
      )
    })

    it('never uses an answer past its lifetime, however often the session is used', async () => {
      const checks = createSessionChecks(db)
      const { userId, sessionId } = await signedIn()
      await checks.requireLive(sessionId, userId)
      const ended = Date.now()
      await endedElsewhere(sessionId)
      let refusedAfter: number | undefined
      while (refusedAfter === undefined && Date.now() - ended < 3 * sessionCheckTtlMs) {
        try {
          await checks.requireLive(sessionId, userId)
          await sleep(20)
        } catch {
          refusedAfter = Date.now() - ended
        }
      }
      expect(refusedAfter).toBeDefined()
      // The answer read before the end lives sessionCheckTtlMs; a margin for a slow machine's timers.
      expect(refusedAfter as number).toBeLessThanOrEqual(sessionCheckTtlMs + 500)
    })

    it('refuses a session ended through this replica at once, whatever it read before', async () => {
      const checks = createSessionChecks(db)
      const { userId, sessionId } = await signedIn()
      await checks.requireLive(sessionId, userId)
      await endedElsewhere(sessionId)
      checks.ended(sessionId)
      await expect(checks.requireLive(sessionId, userId)).rejects.toThrow(/has ended/)
    })
  })
}
