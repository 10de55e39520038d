import type { Envelope, MessageContract } from '@rxt/contracts'
import type { ContextDb, Transaction } from '../db/index.ts'
import { isKitError, type Violation } from '../errors.ts'
import type { Logger } from '../log.ts'
import { withScope } from '../scope.ts'
import { type BackoffPolicy, backoffDelay } from './backoff.ts'
import type { DeadLetterStore } from './dead-letters.ts'
import type { BusMetrics } from './metrics.ts'
import type { PublishInput } from './publisher.ts'
import type { Relay } from './relay.ts'
import type { Delivery } from './transport.ts'

/** What a handler is given with each message. */
export interface HandlerContext {
  /** The transaction the handler's writes, its inbox row and what it publishes commit in. */
  readonly tx: Transaction
  /** Publishes in `tx`, caused by the message being handled (correlation carried over). */
  publish<D>(message: PublishInput<D>): Promise<Envelope<D>>
  readonly log: Logger
  /** 1 on the first delivery. */
  readonly deliveryCount: number
  /** The transport's sequence number of the message (null when an operator replays a dead letter). */
  readonly sequence: number | null
}

export interface MessageHandler {
  /** Unique within the context; the durable consumer is `<context>.<id>`. */
  readonly id: string
  readonly types: readonly string[]
  /**
   * The contracts a typed handler (`on`) is declared with, one per type: `subscribe` refuses it when
   * the bus's catalog has one of them at another version (its payloads would not be what it expects).
   */
  readonly contracts?: readonly MessageContract[]
  /**
   * Runs in a transaction with the message's inbox row: a message is handled effectively once. Throw a
   * kit error with `retryable: false` (InputError, NotFoundError, …) to dead-letter it at once; any
   * other error is retried with backoff up to the bus's maxDeliveries.
   */
  readonly handle: (message: Envelope, context: HandlerContext) => Promise<void>
  /**
   * What happens to the rest of a key when one of its messages is dead-lettered: `skip` (the default)
   * handles the key's later messages; `hold` keeps them back, in order, until a person replays or
   * discards the dead letter (a saga's steps must not run past a gap).
   */
  readonly onDeadLetter?: 'skip' | 'hold'
}

/** A context on the bus: its database, outbox and relay, dead letters and handlers. */
export interface Attached {
  readonly context: string
  readonly db: ContextDb
  readonly handlers: MessageHandler[]
  readonly relay: Relay
  readonly deadLetters: DeadLetterStore
  /** Writes messages to this context's outbox in `tx` (caused by `cause` when given). */
  readonly publishAll: (
    tx: Transaction,
    messages: readonly PublishInput[],
    cause?: Envelope,
  ) => Promise<Envelope[]>
}

export const consumerName = (context: string, handler: MessageHandler) => `${context}.${handler.id}`

export const errorText = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : `non-error thrown: ${String(error)}`

/**
 * Records messages in a consumer's inbox; returns those that are new. After a replay (a new generation)
 * a message handled in an earlier generation is new again only from the replay point on: one before it
 * (say, redelivered because its ack was lost) is still a duplicate.
 */
const inboxInsert = `
  INSERT INTO rxt_inbox (consumer, generation, message_id)
  SELECT $1, c.generation, m.id
    FROM rxt_consumers c, unnest($2::uuid[], $3::bigint[], $4::timestamptz[]) AS m(id, seq, time)
   WHERE c.consumer = $1
     AND (c.generation = 0
          OR m.seq >= c.replay_from_seq OR m.time >= c.replay_from_time
          OR NOT EXISTS (SELECT 1 FROM rxt_inbox i
                          WHERE i.consumer = $1 AND i.message_id = m.id AND i.generation < c.generation))
  ON CONFLICT DO NOTHING RETURNING message_id`

/** A handler's failure on a message handled alone, carried out of its transaction. */
class LoneFailure extends Error {
  constructor(cause: unknown) {
    super('handler failed', { cause })
  }
}

/** A delivery whose envelope parsed and validated. */
export interface Screened {
  readonly delivery: Delivery
  readonly envelope: Envelope
  duplicate?: boolean
}

export interface HandlingOptions {
  readonly log: Logger
  readonly metrics: BusMetrics
  readonly violationsOf: (envelope: unknown) => Violation[]
  /** Deliveries of one message before it is dead-lettered. */
  readonly maxDeliveries: number
  readonly backoff: BackoffPolicy
}

/**
 * How a consumer handles what it is delivered: screened (invalid → dead letter), then in a transaction
 * with the inbox row (effectively once), alone or many at a time, retried or dead-lettered on failure.
 */
export function createHandling(options: HandlingOptions) {
  const { log, metrics: m, violationsOf, maxDeliveries, backoff } = options

  const deadLetter = async (
    a: Attached,
    consumer: string,
    body: string,
    envelope: unknown,
    error: string,
    deliveries: number,
  ) => {
    await a.deadLetters.add(consumer, body, envelope, error, deliveries)
    m.deadLettered.inc({ consumer })
  }

  /** Runs the handler on one message inside `tx` (whose inbox row is already written). */
  const runHandler = (
    a: Attached,
    handler: MessageHandler,
    tx: Transaction,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
  ) => {
    let scoped: Logger | undefined
    const context: HandlerContext = {
      tx,
      publish: async (message) => (await a.publishAll(tx, [message], envelope))[0] as Envelope<never>,
      // A child logger costs more than most handlers: made on first use.
      get log() {
        scoped ??= log.child({
          context: a.context,
          consumer: consumerName(a.context, handler),
          messageId: envelope.id,
          type: envelope.type,
        })
        return scoped
      },
      deliveryCount,
      sequence,
    }
    return withScope(
      {
        correlationId: envelope.correlationId,
        ...(envelope.tenantId ? { tenantId: envelope.tenantId } : {}),
        ...(envelope.actor ? { actor: envelope.actor } : {}),
      },
      () => handler.handle(envelope, context),
    )
  }

  /** Runs the handler in a transaction with the inbox row; false when it was handled before. */
  const handleInTx = (
    a: Attached,
    handler: MessageHandler,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
    then?: (tx: Transaction) => Promise<void>,
  ) =>
    a.db.transaction(async (tx) => {
      const inserted = await tx.query(inboxInsert, [
        consumerName(a.context, handler),
        [envelope.id],
        [sequence],
        [envelope.time],
      ])
      if (inserted.rowCount > 0) await runHandler(a, handler, tx, envelope, deliveryCount, sequence)
      await then?.(tx)
      return inserted.rowCount > 0
    })

  /** Holds a message back behind its key (or as the head that failed), in `tx`. */
  const hold = (
    tx: Transaction,
    consumer: string,
    g: Screened,
    attempts: number,
    delayMs: number,
    deadLetter: string | null,
  ) =>
    tx.query(
      `INSERT INTO rxt_held (consumer, key, message_id, seq, envelope, attempts, not_before, dead_letter)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, now() + make_interval(secs => $7::double precision / 1000), $8)
       ON CONFLICT (consumer, message_id) DO NOTHING`,
      [
        consumer,
        g.delivery.key,
        g.envelope.id,
        g.delivery.seq,
        JSON.stringify(g.envelope),
        attempts,
        delayMs,
        deadLetter,
      ],
    )

  /**
   * After a handler failed (its savepoint rolled back) on its `attempts`-th try: the message is held
   * for a retry, or dead-lettered (and held as the key's head when its handler holds). Resolves with
   * whether its key is now held.
   */
  const failed = async (
    a: Attached,
    handler: MessageHandler,
    tx: Transaction,
    g: Screened,
    attempts: number,
    error: unknown,
  ): Promise<boolean> => {
    const consumer = consumerName(a.context, handler)
    const d = g.delivery
    const retryable = isKitError(error) ? error.retryable : true
    if (retryable && attempts < maxDeliveries) {
      log.info({ consumer, type: d.type, err: error, deliveries: attempts }, 'message will be retried')
      await hold(tx, consumer, g, attempts, backoffDelay(backoff, attempts), null)
      return true
    }
    log.warn(
      { consumer, type: d.type, err: error, deliveries: attempts },
      retryable ? 'message dead-lettered after its last delivery' : 'message dead-lettered: not retryable',
    )
    const id = await a.deadLetters.add(consumer, d.body, g.envelope, errorText(error), attempts, tx)
    tx.afterCommit(() => m.deadLettered.inc({ consumer }))
    if (handler.onDeadLetter !== 'hold') return false
    await hold(tx, consumer, g, attempts, 0, id)
    return true
  }

  /**
   * Handles a group of one consumer's messages (in order per key) in one transaction: their inbox rows
   * in one statement, then each new one under its own savepoint, so that a failing one rolls back alone
   * and the others run once. A failed message is held in `rxt_held` for its retry, and every later
   * message of a held key is held behind it: order per key survives retries whatever the transport
   * redelivers. Everything is acknowledged once the transaction commits.
   */
  const handleGroup = async (a: Attached, handler: MessageHandler, group: readonly Screened[]) => {
    const consumer = consumerName(a.context, handler)
    const settled = await a.db
      .transaction(async (tx) => {
        const { rows: heldRows } = await tx.query<{ key: string }>(
          'SELECT DISTINCT key FROM rxt_held WHERE consumer = $1 AND key = ANY($2::text[])',
          [consumer, [...new Set(group.map((g) => g.delivery.key))]],
        )
        const held = new Set(heldRows.map((r) => r.key))
        const open = group.filter((g) => !held.has(g.delivery.key))
        const { rows } =
          open.length === 0
            ? { rows: [] }
            : await tx.query<{ message_id: string }>(inboxInsert, [
                consumer,
                open.map((g) => g.envelope.id),
                open.map((g) => g.delivery.seq),
                open.map((g) => g.envelope.time),
              ])
        const inserted = new Set(rows.map((r) => r.message_id.toLowerCase()))
        /** Inbox rows of messages that were not handled after all (held, or dead-lettered). */
        const unhandled: string[] = []
        let duplicates = 0
        const savepoints = group.length > 1
        for (const g of group) {
          const fresh = inserted.has(g.envelope.id.toLowerCase())
          if (held.has(g.delivery.key)) {
            if (fresh) unhandled.push(g.envelope.id)
            await hold(tx, consumer, g, 0, 0, null)
            continue
          }
          if (!fresh) {
            duplicates++
            continue
          }
          // (Not released: a release is one more round trip, and the savepoints end with the transaction.)
          if (savepoints) await tx.query('SAVEPOINT rxt_message')
          try {
            await runHandler(a, handler, tx, g.envelope, g.delivery.deliveryCount, g.delivery.seq)
          } catch (error) {
            // A lone message needs no savepoint: its transaction rolls back and the failure is recorded in
            // another.
            if (!savepoints) throw new LoneFailure(error)
            await tx.query('ROLLBACK TO SAVEPOINT rxt_message')
            unhandled.push(g.envelope.id)
            if (await failed(a, handler, tx, g, g.delivery.deliveryCount, error)) held.add(g.delivery.key)
          }
        }
        if (unhandled.length > 0) {
          await tx.query(
            `DELETE FROM rxt_inbox i USING rxt_consumers c
            WHERE c.consumer = $1 AND i.consumer = $1 AND i.generation = c.generation
              AND i.message_id = ANY($2::uuid[])`,
            [consumer, unhandled],
          )
        }
        return { duplicates, held: held.size > 0 }
      })
      .catch(async (error: unknown) => {
        if (!(error instanceof LoneFailure)) throw error
        const g = group[0] as Screened
        return a.db.transaction(async (tx) => ({
          duplicates: 0,
          held: await failed(a, handler, tx, g, g.delivery.deliveryCount, error.cause),
        }))
      })
    if (settled.duplicates > 0) m.duplicates.inc({ consumer }, settled.duplicates)
    // Settled together: a transport may send the acks of one turn in one request. Committed: a failed
    // ack only means a redelivery, which the inbox (or rxt_held) takes unhandled.
    await Promise.all(
      group.map((g) =>
        g.delivery
          .ack()
          .catch((error: unknown) =>
            log.warn({ err: error, consumer }, 'ack failed; it will be redelivered'),
          ),
      ),
    )
    return settled.held
  }

  /**
   * Handles the first held message of a key whose retry is due (one at a time; replicas skip a row
   * another has locked). Resolves false when none is due.
   */
  const handleHeld = (a: Attached, handler: MessageHandler) =>
    a.db.transaction(async (tx) => {
      const consumer = consumerName(a.context, handler)
      const { rows } = await tx.query<{
        n: string
        key: string
        seq: string | null
        envelope: Envelope
        attempts: number
      }>(
        `SELECT h.n, h.key, h.seq, h.envelope, h.attempts FROM rxt_held h
          WHERE h.consumer = $1 AND h.dead_letter IS NULL AND h.not_before <= now()
            AND NOT EXISTS (SELECT 1 FROM rxt_held e WHERE e.consumer = $1 AND e.key = h.key AND e.n < h.n)
          ORDER BY h.n LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [consumer],
      )
      const row = rows[0]
      if (row === undefined) return false
      const envelope =
        typeof row.envelope === 'string' ? (JSON.parse(row.envelope) as Envelope) : row.envelope
      const seq = row.seq === null ? null : Number(row.seq)
      const attempt = row.attempts + 1
      await tx.query('SAVEPOINT rxt_message')
      try {
        const inserted = await tx.query(inboxInsert, [consumer, [envelope.id], [seq], [envelope.time]])
        if (inserted.rowCount === 0) m.duplicates.inc({ consumer })
        else await runHandler(a, handler, tx, envelope, attempt, seq)
        await tx.query('DELETE FROM rxt_held WHERE n = $1', [row.n])
      } catch (error) {
        await tx.query('ROLLBACK TO SAVEPOINT rxt_message')
        const retryable = isKitError(error) ? error.retryable : true
        if (retryable && attempt < maxDeliveries) {
          log.info(
            { consumer, type: envelope.type, err: error, deliveries: attempt },
            'message will be retried',
          )
          await tx.query(
            `UPDATE rxt_held SET attempts = $2, not_before = now() + make_interval(secs => $3::double precision / 1000)
              WHERE n = $1`,
            [row.n, attempt, backoffDelay(backoff, attempt)],
          )
        } else {
          log.warn(
            { consumer, type: envelope.type, err: error, deliveries: attempt },
            retryable
              ? 'message dead-lettered after its last delivery'
              : 'message dead-lettered: not retryable',
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
            await tx.query('UPDATE rxt_held SET attempts = $2, dead_letter = $3 WHERE n = $1', [
              row.n,
              attempt,
              id,
            ])
          } else await tx.query('DELETE FROM rxt_held WHERE n = $1', [row.n])
        }
      }
      return true
    })

  /** When the next held message of the consumer is due (undefined: none is waiting for a retry). */
  const nextHeld = async (a: Attached, handler: MessageHandler): Promise<number | undefined> => {
    const { rows } = await a.db.query<{ due: Date | string | null }>(
      'SELECT min(not_before) AS due FROM rxt_held WHERE consumer = $1 AND dead_letter IS NULL',
      [consumerName(a.context, handler)],
    )
    const due = rows[0]?.due
    return due === null || due === undefined ? undefined : new Date(due).getTime()
  }

  /**
   * Parses and validates a delivery; an invalid one is dead-lettered with the reason and acked at once
   * (undefined), so that one bad message never blocks a consumer.
   */
  const screen = async (a: Attached, handler: MessageHandler, d: Delivery): Promise<Screened | undefined> => {
    const consumer = consumerName(a.context, handler)
    m.delivered.inc({ consumer })
    if (d.deliveryCount > 1) m.redelivered.inc({ consumer })
    let envelope: unknown
    try {
      envelope = JSON.parse(d.body)
    } catch (error) {
      await deadLetter(
        a,
        consumer,
        d.body,
        undefined,
        `not JSON: ${(error as Error).message}`,
        d.deliveryCount,
      )
      await d.ack()
      return undefined
    }
    const violations = violationsOf(envelope)
    if (violations.length > 0) {
      const text = `invalid message: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`
      log.warn({ consumer, type: d.type, violations }, 'invalid message dead-lettered')
      await deadLetter(a, consumer, d.body, envelope, text, d.deliveryCount)
      await d.ack()
      return undefined
    }
    return { delivery: d, envelope: envelope as Envelope }
  }

  return { screen, handleInTx, handleGroup, handleHeld, nextHeld }
}
export type Handling = ReturnType<typeof createHandling>
