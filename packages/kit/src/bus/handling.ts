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
  ) =>
    a.db.transaction(async (tx) => {
      const inserted = await tx.query(inboxInsert, [
        consumerName(a.context, handler),
        [envelope.id],
        [sequence],
        [envelope.time],
      ])
      if (inserted.rowCount === 0) return false
      await runHandler(a, handler, tx, envelope, deliveryCount, sequence)
      return true
    })

  /**
   * Handles several messages in one transaction: their inbox rows in one statement, then each new one
   * in order. Throws when any handler does; nothing of the group is then committed.
   */
  const handleGroupInTx = async (a: Attached, handler: MessageHandler, group: readonly Screened[]) => {
    const consumer = consumerName(a.context, handler)
    const fresh = await a.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ message_id: string }>(inboxInsert, [
        consumer,
        group.map((g) => g.envelope.id),
        group.map((g) => g.delivery.seq),
        group.map((g) => g.envelope.time),
      ])
      const inserted = new Set(rows.map((r) => r.message_id.toLowerCase()))
      for (const g of group) {
        if (inserted.delete(g.envelope.id.toLowerCase())) {
          await runHandler(a, handler, tx, g.envelope, g.delivery.deliveryCount, g.delivery.seq)
        } else {
          g.duplicate = true
        }
      }
      return group
    })
    for (const g of fresh) if (g.duplicate === true) m.duplicates.inc({ consumer })
    // Settled together: a transport may send the acks of one turn in one request.
    await Promise.all(fresh.map((g) => g.delivery.ack()))
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

  /** Handles one valid delivery on its own and settles it; 'retry' when it goes back for later. */
  const deliver = async (a: Attached, handler: MessageHandler, g: Screened): Promise<'done' | 'retry'> => {
    const consumer = consumerName(a.context, handler)
    const d = g.delivery
    let handled: boolean
    try {
      handled = await handleInTx(a, handler, g.envelope, d.deliveryCount, d.seq)
    } catch (error) {
      const retryable = isKitError(error) ? error.retryable : true
      if (!retryable || d.deliveryCount >= maxDeliveries) {
        log.warn(
          { consumer, type: d.type, err: error, deliveries: d.deliveryCount },
          retryable
            ? 'message dead-lettered after its last delivery'
            : 'message dead-lettered: not retryable',
        )
        await deadLetter(a, consumer, d.body, g.envelope, errorText(error), d.deliveryCount)
        await d.ack()
        return 'done'
      }
      log.info({ consumer, type: d.type, err: error, deliveries: d.deliveryCount }, 'message will be retried')
      await d.retry(backoffDelay(backoff, d.deliveryCount))
      return 'retry'
    }
    // Committed: a failed ack only means a redelivery, which the inbox acknowledges unhandled.
    if (!handled) m.duplicates.inc({ consumer })
    await d
      .ack()
      .catch((error: unknown) => log.warn({ err: error, consumer }, 'ack failed; it will be redelivered'))
    return 'done'
  }

  /**
   * One by one, in order. A key whose message went back for a retry is `blocked`: its later messages
   * go back too, behind it, so that the key's order holds.
   */
  const deliverInOrder = async (
    a: Attached,
    handler: MessageHandler,
    group: readonly Screened[],
    blocked: Set<string>,
  ) => {
    for (const g of group) {
      if (blocked.has(g.delivery.key)) {
        await g.delivery.retry(backoffDelay(backoff, 1)).catch(() => {})
        continue
      }
      const outcome = await deliver(a, handler, g).catch((error: unknown) => {
        // The database or the transport failed: leave it to redelivery after the ack wait.
        log.error({ err: error, consumer: consumerName(a.context, handler) }, 'bus delivery failed')
        return 'retry' as const
      })
      if (outcome === 'retry') blocked.add(g.delivery.key)
    }
  }

  return { screen, handleInTx, handleGroupInTx, deliverInOrder }
}
export type Handling = ReturnType<typeof createHandling>
