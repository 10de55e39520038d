import type { ContextDb, Queryable } from '../db/index.ts'
import { ConflictError } from '../errors.ts'
import { newId } from '../ids.ts'

/** A message a consumer gave up on, with the last error. */
export interface DeadLetter {
  readonly id: string
  readonly context: string
  readonly consumer: string
  readonly messageId: string | null
  readonly type: string
  readonly envelope: unknown
  readonly error: string
  readonly deliveries: number
  readonly deadAt: string
  readonly replayedAt: string | null
  readonly replays: number
  /** When an operator gave up on it: it is not handled, and no longer holds its key. */
  readonly discardedAt: string | null
}

export interface DeadLetterFilter {
  readonly consumer?: string
  readonly includeReplayed?: boolean
  readonly limit?: number
}

/** Errors are kept to this many characters. */
const maxErrorLength = 4000

const toDeadLetter = (context: string, r: Record<string, unknown>): DeadLetter => ({
  id: String(r.id),
  context,
  consumer: String(r.consumer),
  messageId: r.message_id === null ? null : String(r.message_id),
  type: String(r.type),
  envelope: r.envelope,
  error: String(r.error),
  deliveries: Number(r.deliveries),
  deadAt: new Date(r.dead_at as string).toISOString(),
  replayedAt: r.replayed_at === null ? null : new Date(r.replayed_at as string).toISOString(),
  replays: Number(r.replays),
  discardedAt:
    r.discarded_at === null || r.discarded_at === undefined
      ? null
      : new Date(r.discarded_at as string).toISOString(),
})

/** The dead letters of one context, in its own schema (`rxt_dead_letters`). */
export function deadLetterStore(context: string, db: ContextDb) {
  return {
    /** Records a message `consumer` gave up on; `envelope` undefined when `body` did not parse. */
    async add(
      consumer: string,
      body: string,
      envelope: unknown,
      error: string,
      deliveries: number,
      q: Queryable = db,
    ): Promise<string> {
      const e = envelope as { id?: unknown; type?: unknown } | undefined
      const messageId = typeof e?.id === 'string' && /^[0-9a-f-]{36}$/i.test(e.id) ? e.id : null
      const id = newId()
      await q.query(
        `INSERT INTO rxt_dead_letters (id, consumer, message_id, type, envelope, error, deliveries)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
        [
          id,
          consumer,
          messageId,
          typeof e?.type === 'string' ? e.type : 'unknown',
          envelope === undefined ? JSON.stringify(body) : JSON.stringify(envelope),
          error.slice(0, maxErrorLength),
          deliveries,
        ],
      )
      return id
    },
    async list(filter: DeadLetterFilter, limit: number): Promise<DeadLetter[]> {
      const { rows } = await db.query(
        `SELECT * FROM rxt_dead_letters
          WHERE ($1::text IS NULL OR consumer = $1) AND ($2 OR (replayed_at IS NULL AND discarded_at IS NULL))
          ORDER BY dead_at DESC, id DESC LIMIT $3`,
        [filter.consumer ?? null, filter.includeReplayed === true, limit],
      )
      return rows.map((r) => toDeadLetter(context, r))
    },
    async find(id: string): Promise<DeadLetter | undefined> {
      const { rows } = await db.query('SELECT * FROM rxt_dead_letters WHERE id = $1', [id])
      return rows[0] === undefined ? undefined : toDeadLetter(context, rows[0])
    },
    async failedAgain(id: string, error: string): Promise<void> {
      await db.query('UPDATE rxt_dead_letters SET error = $2, replays = replays + 1 WHERE id = $1', [
        id,
        error.slice(0, maxErrorLength),
      ])
    },
    /** Marks it discarded and releases the key it holds; undefined when it was replayed or discarded. */
    async discarded(id: string): Promise<DeadLetter | undefined> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query(
          `UPDATE rxt_dead_letters SET discarded_at = now()
            WHERE id = $1 AND replayed_at IS NULL AND discarded_at IS NULL RETURNING *`,
          [id],
        )
        if (rows[0] === undefined) return undefined
        await tx.query('DELETE FROM rxt_held WHERE dead_letter = $1', [id])
        return toDeadLetter(context, rows[0])
      })
    },
    async replayed(id: string, q: Queryable = db): Promise<DeadLetter> {
      const { rows } = await q.query(
        'UPDATE rxt_dead_letters SET replayed_at = now(), replays = replays + 1 WHERE id = $1 AND discarded_at IS NULL RETURNING *',
        [id],
      )
      // Discarded while it was being handled: the handling rolls back with this (the key went on).
      if (rows[0] === undefined)
        throw new ConflictError(`dead letter ${id} was discarded while it was replayed`)
      return toDeadLetter(context, rows[0])
    },
  }
}
export type DeadLetterStore = ReturnType<typeof deadLetterStore>
