// Held messages: a retry that is due (and the messages of its key held behind it), handled from
// rxt_held one key's head at a time, in order; dead-lettered past the last delivery.
import type { Envelope } from '@rxt/contracts'
import type { Transaction } from '../db/index.ts'
import { isKitError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type BackoffPolicy, backoffDelay } from './backoff.ts'
import { type Attached, consumerName, errorText, type MessageHandler } from './handler.ts'
import type { BusMetrics } from './metrics.ts'

/** What the held path takes from the rest of the handling (handling.ts). */
export interface HeldDeps {
  readonly log: Logger
  readonly metrics: BusMetrics
  readonly maxDeliveries: number
  readonly backoff: BackoffPolicy
  /** The statement that records messages in a consumer's inbox (handling.ts). */
  readonly inboxInsert: string
  readonly timeoutOf: (handler: MessageHandler) => number
  readonly deadlineOf: (handler: MessageHandler) => number
  readonly probe: (
    a: Attached,
    handler: MessageHandler,
    envelope: Envelope,
    seq: number | null,
    key: string,
  ) => Promise<{ fresh: boolean; held: boolean }>
  readonly runAct: (
    a: Attached,
    handler: MessageHandler,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
    deadline: number,
  ) => Promise<unknown>
  readonly runHandler: (
    a: Attached,
    handler: MessageHandler,
    tx: Transaction,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
    outcome?: unknown,
    deadline?: number,
  ) => Promise<void>
  readonly notActed: (consumer: string) => Error
}

export function createHeldHandling(deps: HeldDeps) {
  const { log, metrics: m, maxDeliveries, backoff, inboxInsert } = deps
  const { timeoutOf, deadlineOf, probe, runAct, runHandler, notActed } = deps

  interface HeldRow {
    n: string
    key: string
    seq: string | null
    envelope: Envelope | string
    attempts: number
  }

  /** The first held message of a key whose retry is due, locked (replicas skip a row another locked). */
  const headOfHeld = async (tx: Transaction, consumer: string) => {
    const { rows } = await tx.query<HeldRow & Record<string, unknown>>(
      `SELECT h.n, h.key, h.seq, h.envelope, h.attempts FROM rxt_held h
        WHERE h.consumer = $1 AND h.dead_letter IS NULL AND h.not_before <= now()
          AND NOT EXISTS (SELECT 1 FROM rxt_held e WHERE e.consumer = $1 AND e.key = h.key AND e.n < h.n)
        ORDER BY h.n LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [consumer],
    )
    const row = rows[0]
    if (row === undefined) return undefined
    const envelope = typeof row.envelope === 'string' ? (JSON.parse(row.envelope) as Envelope) : row.envelope
    return { row, envelope, seq: row.seq === null ? null : Number(row.seq), attempt: row.attempts + 1 }
  }

  /** After a held message failed its `attempt`-th try: due again later, or dead-lettered. */
  const heldFailed = async (
    a: Attached,
    handler: MessageHandler,
    tx: Transaction,
    n: string,
    envelope: Envelope,
    attempt: number,
    error: unknown,
    claimed?: number,
  ) => {
    const consumer = consumerName(a.context, handler)
    // A claim (acting after commit) that another replica took over meanwhile is its to settle.
    if (claimed !== undefined) {
      const { rowCount } = await tx.query(
        'SELECT 1 FROM rxt_held WHERE n = $1 AND attempts = $2 FOR UPDATE',
        [n, claimed],
      )
      if (rowCount === 0) return
    }
    const retryable = isKitError(error) ? error.retryable : true
    if (retryable && attempt < maxDeliveries) {
      log.info({ consumer, type: envelope.type, err: error, deliveries: attempt }, 'message will be retried')
      await tx.query(
        `UPDATE rxt_held SET attempts = $2, not_before = now() + make_interval(secs => $3::double precision / 1000)
          WHERE n = $1`,
        [n, attempt, backoffDelay(backoff, attempt)],
      )
      return
    }
    log.warn(
      { consumer, type: envelope.type, err: error, deliveries: attempt },
      retryable ? 'message dead-lettered after its last delivery' : 'message dead-lettered: not retryable',
    )
    const id = await a.deadLetters.add(
      consumer,
      JSON.stringify(envelope),
      envelope,
      errorText(error),
      attempt,
      tx,
    )
    tx.afterCommit(() => m.deadLettered.inc({ consumer }))
    // Holding: it stays the key's head until the dead letter is replayed or discarded.
    if (handler.onDeadLetter === 'hold') {
      await tx.query('UPDATE rxt_held SET attempts = $2, dead_letter = $3 WHERE n = $1', [n, attempt, id])
    } else await tx.query('DELETE FROM rxt_held WHERE n = $1', [n])
  }

  /**
   * Handles the first held message of a key whose retry is due (one at a time). Resolves false when
   * none is due.
   */
  const handleHeld = (a: Attached, handler: MessageHandler): Promise<boolean> => {
    if (handler.act !== undefined) return handleHeldActing(a, handler)
    return a.db.transaction(async (tx) => {
      const consumer = consumerName(a.context, handler)
      const head = await headOfHeld(tx, consumer)
      if (head === undefined) return false
      const { row, envelope, seq, attempt } = head
      await tx.query('SAVEPOINT rxt_message')
      try {
        const inserted = await tx.query(inboxInsert, [consumer, [envelope.id], [seq], [envelope.time]])
        if (inserted.rowCount === 0) m.duplicates.inc({ consumer })
        else await runHandler(a, handler, tx, envelope, attempt, seq)
        await tx.query('DELETE FROM rxt_held WHERE n = $1', [row.n])
      } catch (error) {
        await tx.query('ROLLBACK TO SAVEPOINT rxt_message')
        await heldFailed(a, handler, tx, row.n, envelope, attempt, error)
      }
      return true
    })
  }

  /**
   * As `handleHeld`, for a handler that acts after commit: the held message is claimed in a short
   * transaction (its attempt counted, and due again only after the handler's timeout, so that a replica
   * that dies in its outside work leaves it to another), acted on with no transaction open, and its
   * outcome recorded (or its failure) in another.
   */
  const handleHeldActing = async (a: Attached, handler: MessageHandler): Promise<boolean> => {
    const consumer = consumerName(a.context, handler)
    // Twice the attempt's timeout: the claim outlives the attempt, its wait for a connection included.
    const leaseMs = 2 * timeoutOf(handler) + 5_000
    const head = await a.db.transaction(async (tx) => {
      const found = await headOfHeld(tx, consumer)
      if (found !== undefined)
        await tx.query(
          `UPDATE rxt_held SET attempts = $2, not_before = now() + make_interval(secs => $3::double precision / 1000)
            WHERE n = $1`,
          [found.row.n, found.attempt, leaseMs],
        )
      return found
    })
    if (head === undefined) return false
    const { row, envelope, seq, attempt } = head
    try {
      const deadline = deadlineOf(handler)
      const fresh = (await probe(a, handler, envelope, seq, row.key)).fresh
      const outcome = fresh ? await runAct(a, handler, envelope, attempt, seq, deadline) : undefined
      await a.db.transaction(async (tx) => {
        const inserted = await tx.query(inboxInsert, [consumer, [envelope.id], [seq], [envelope.time]])
        if (inserted.rowCount === 0) m.duplicates.inc({ consumer })
        else if (!fresh) throw notActed(consumer)
        else await runHandler(a, handler, tx, envelope, attempt, seq, outcome, deadline)
        // Released only under this replica's claim (its attempt count): one that took it over settles it.
        await tx.query('DELETE FROM rxt_held WHERE n = $1 AND attempts = $2', [row.n, attempt])
      })
    } catch (error) {
      await a.db.transaction((tx) => heldFailed(a, handler, tx, row.n, envelope, attempt, error, attempt))
    }
    return true
  }

  /**
   * When the next held message of the consumer is due (undefined: none is waiting for a retry). Only a
   * key's head counts: the messages held behind it are due when it is settled, not before, and a key
   * whose head is a dead letter waits for a person.
   */
  const nextHeld = async (a: Attached, handler: MessageHandler): Promise<number | undefined> => {
    const { rows } = await a.db.query<{ due: Date | string | null }>(
      `SELECT min(h.not_before) AS due FROM rxt_held h
        WHERE h.consumer = $1 AND h.dead_letter IS NULL
          AND NOT EXISTS (SELECT 1 FROM rxt_held e WHERE e.consumer = $1 AND e.key = h.key AND e.n < h.n)`,
      [consumerName(a.context, handler)],
    )
    const due = rows[0]?.due
    return due === null || due === undefined ? undefined : new Date(due).getTime()
  }

  return { handleHeld, nextHeld }
}
