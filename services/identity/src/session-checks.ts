import { AuthenticationError, type ContextDb, lazyCache } from '@rxt/kit'
import { accessTokenTtlSeconds } from './tokens.ts'

/**
 * How long a replica takes a session to be live before it asks the database again: the longest an
 * access token keeps working on another replica after its session ended.
 */
export const sessionCheckTtlMs = 2_000
/**
 * How old a live answer is when a request that uses it reads the session again in the background: a
 * session in use is read before its answer expires, so that no request waits on the database for it
 * (the bound above holds: an answer is never used past `sessionCheckTtlMs`).
 */
export const sessionRefreshAfterMs = 1_000

const ended = () =>
  new AuthenticationError(
    'the session of this access token has ended (signed out, or its refresh token was used twice); sign in again',
  )

/**
 * Whether the session an access token names is still live. The sessions table is the record on every
 * replica (the database every identity replica shares; Redis, when there is one, is not: a revocation
 * must not be lost when it is down). A live answer is kept for `sessionCheckTtlMs`; an ended session
 * stays ended, so that answer is kept until every token of it has expired, and a session ended through
 * this replica is known at once. A session in use is read again in the background once its answer is
 * `sessionRefreshAfterMs` old: requests then do not wait on the database every `sessionCheckTtlMs`.
 */
export function createSessionChecks(db: ContextDb) {
  /** Live sessions by id, with the user each belongs to. */
  const live = lazyCache<string, string>({ max: 100_000, ttl: sessionCheckTtlMs })
  const over = lazyCache<string, true>({ max: 100_000, ttl: (accessTokenTtlSeconds + 60) * 1000 })
  /** One read per session at a time, however many requests carry its tokens at once. */
  const reading = new Map<string, Promise<void>>()

  /** Reads the session and remembers whether it is live, and whose it is. */
  const readNow = async (sessionId: string): Promise<void> => {
    const row = (
      await db.query<{ user_id: string; revoked_at: Date | null }>(
        'SELECT user_id, revoked_at FROM sessions WHERE id = $1',
        [sessionId],
      )
    ).rows[0]
    if (row === undefined || row.revoked_at !== null) over.set(sessionId, true)
    // Read before a revocation through this replica committed: what it read is already stale.
    else if (!over.has(sessionId)) live.set(sessionId, row.user_id)
  }
  const read = (sessionId: string): Promise<void> => {
    let pending = reading.get(sessionId)
    if (pending === undefined) {
      pending = readNow(sessionId).finally(() => reading.delete(sessionId))
      reading.set(sessionId, pending)
    }
    return pending
  }

  return {
    /** AuthenticationError unless the session is live (as of at most `sessionCheckTtlMs` ago). */
    async requireLive(sessionId: string, userId: string): Promise<void> {
      if (over.has(sessionId)) throw ended()
      const owner = live.get(sessionId)
      if (owner !== undefined) {
        if (owner !== userId) throw ended()
        // Read again ahead of expiry; a failed read leaves the answer to expire, and the next
        // request to read it, and fail, itself.
        if (live.getRemainingTTL(sessionId) <= sessionCheckTtlMs - sessionRefreshAfterMs)
          void read(sessionId).catch(() => undefined)
        return
      }
      await read(sessionId)
      // A session of someone else, or none at all, is no session of this token's user.
      if (over.has(sessionId) || live.get(sessionId) !== userId) throw ended()
    },
    /** The session ended through this replica (after its transaction committed): its tokens stop at once. */
    ended(sessionId: string): void {
      over.set(sessionId, true)
      live.delete(sessionId)
    },
  }
}
export type SessionChecks = ReturnType<typeof createSessionChecks>
