// What a handler is and is given, and what a context on the bus is: the types the bus's parts share.
import type { Envelope, MessageContract } from '@rxt/contracts'
import type { ContextDb, Transaction } from '../db/index.ts'
import type { Logger } from '../log.ts'
import type { DeadLetterStore } from './dead-letters.ts'
import type { PublishInput } from './publisher.ts'
import type { Relay } from './relay.ts'

/** What a handler's outside work (`act`) is given: no transaction, a signal that says when to stop. */
export interface ActContext {
  readonly log: Logger
  /** 1 on the first delivery. */
  readonly deliveryCount: number
  /** The transport's sequence number of the message (null when an operator replays a dead letter). */
  readonly sequence: number | null
  /** Aborted when the handler's timeout passes: the attempt has failed and will be retried. */
  readonly signal: AbortSignal
}

/** What a handler is given with each message. */
export interface HandlerContext<O = unknown> {
  /**
   * The transaction the handler's writes, its inbox row and what it publishes commit in. It refuses
   * statements once the handler returned or timed out.
   */
  readonly tx: Transaction
  /** Publishes in `tx`, caused by the message being handled (correlation carried over). */
  publish<D>(message: PublishInput<D>): Promise<Envelope<D>>
  readonly log: Logger
  /** 1 on the first delivery. */
  readonly deliveryCount: number
  /** The transport's sequence number of the message (null when an operator replays a dead letter). */
  readonly sequence: number | null
  /** Aborted when the handler's timeout passes. */
  readonly signal: AbortSignal
  /** What the handler's `act` resolved with (undefined for a handler without one). */
  readonly outcome: O
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
   * Act after commit: the handler's outside work (a platform call), run with no transaction open, before
   * `handle` records its outcome (`context.outcome`) in a transaction with the inbox row. A handler that
   * calls out to the world this way holds no connection while it waits (on PGlite, where every context
   * shares one, others go on). The outside work is at least once: it runs again when its attempt failed,
   * timed out, or the process died before the outcome was recorded, so it must be idempotent (the
   * message's `idempotencyKey` is the key to give the platform); the recorded outcome is once.
   */
  readonly act?: (message: Envelope, context: ActContext) => Promise<unknown>
  /**
   * How long one attempt (`act`, then `handle`) may take before it fails (retryable) and its
   * transaction is rolled back: default the bus's `handlerTimeoutMs`.
   */
  readonly timeoutMs?: number
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
