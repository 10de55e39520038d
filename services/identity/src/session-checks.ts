import { AuthenticationError, type ContextDb } from '@rxt/kit'
import { LRUCache } from 'lru-cache'
import { accessTokenTtlSeconds } from './tokens.ts'

/**
 * How long a replica takes a session to be live before it asks the database again: the longest an
 * access token keeps working on another replica after its session ended.
 */
export const sessionCheckTtlMs = 2_000

const ended = () =>
  new AuthenticationError(
    'the session of this access token has ended (signed out, or its refresh token was used twice); sign in again',
  )

/**
 * Whether the session an access token names is still live. The sessions table is the record on every
 * replica (the database every identity replica shares; Redis, when there is one, is not: a revocation
 * must not be lost when it is down). A live answer is kept for `sessionCheckTtlMs`; an ended session
 * stays ended, so that answer is kept until every token of it has expired, and a session ended through
 * this replica is known at once.
 */
export function createSessionChecks(db: ContextDb) {
  const live = new LRUCache<string, true>({ max: 100_000, ttl: sessionCheckTtlMs })
  const over = new LRUCache<string, true>({ max: 100_000, ttl: (accessTokenTtlSeconds + 60) * 1000 })
  /** One read per session at a time, however many requests carry its tokens at once. */
  const reading = new Map<string, Promise<boolean>>()

  const read = async (sessionId: string, userId: string): Promise<boolean> => {
    const row = (
      await db.query<{ user_id: string; revoked_at: Date | null }>(
        'SELECT user_id, revoked_at FROM sessions WHERE id = $1',
        [sessionId],
      )
    ).rows[0]
    // A session of someone else, or none at all, is no session of this token's user.
    if (row === undefined || row.user_id !== userId || row.revoked_at !== null) {
      over.set(sessionId, true)
      return false
    }
    // Read before a revocation through this replica committed: what it read is already stale.
    if (!over.has(sessionId)) live.set(sessionId, true)
    return true
  }

  return {
    /** AuthenticationError unless the session is live (as of at most `sessionCheckTtlMs` ago). */
    async requireLive(sessionId: string, userId: string): Promise<void> {
      if (over.has(sessionId)) throw ended()
      if (live.has(sessionId)) return
      let pending = reading.get(sessionId)
      if (pending === undefined) {
        pending = read(sessionId, userId).finally(() => reading.delete(sessionId))
        reading.set(sessionId, pending)
      }
      if (!(await pending) || over.has(sessionId)) throw ended()
    },
    /** The session ended through this replica (after its transaction committed): its tokens stop at once. */
    ended(sessionId: string): void {
      over.set(sessionId, true)
      live.delete(sessionId)
    },
  }
}
export type SessionChecks = ReturnType<typeof createSessionChecks>
