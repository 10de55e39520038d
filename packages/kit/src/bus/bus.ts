import type { Envelope, MessageCatalog } from '@rxt/contracts'
import type { Registry } from 'prom-client'
import type { Clock } from '../clock.ts'
import type { ContextDb, Transaction } from '../db/index.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { createBacklogWatch, type NearLimit } from './backlog.ts'
import type { BackoffPolicy } from './backoff.ts'
import { type RunningConsumer, runConsumer } from './consumer.ts'
import { type DeadLetter, type DeadLetterFilter, deadLetterStore } from './dead-letters.ts'
import { type Attached, consumerName, createHandling, errorText, type MessageHandler } from './handling.ts'
import { createBusMetrics } from './metrics.ts'
import { createPublisher, type PublishInput } from './publisher.ts'
import { createRelay } from './relay.ts'
import type { ReplayFrom, Transport } from './transport.ts'

export type { DeadLetter, DeadLetterFilter } from './dead-letters.ts'
export type { ActContext, HandlerContext, MessageHandler } from './handling.ts'
export { maxMessageBytes, type PublishInput } from './publisher.ts'

/** A context's side of the bus. */
export interface ContextBus {
  /** Validates the message and writes it to the outbox in `tx`: it is published if and only if `tx` commits. */
  publish<D>(tx: Transaction, message: PublishInput<D>): Promise<Envelope<D>>
  /** As `publish`, for several messages in one statement; all are valid or none is written. */
  publishAll(tx: Transaction, messages: readonly PublishInput[]): Promise<Envelope[]>
}

export interface ConsumerStatus {
  readonly consumer: string
  readonly context: string
  readonly types: readonly string[]
  readonly lag: number
}

export interface BusOptions {
  readonly transport: Transport
  readonly catalog: MessageCatalog
  readonly log: Logger
  readonly metrics: Registry
  readonly clock: Clock
  /** Deliveries of one message before it is dead-lettered. */
  readonly maxDeliveries?: number
  readonly ackWaitMs?: number
  readonly backoff?: BackoffPolicy
  /** Outbox rows one relay turn publishes. */
  readonly relayBatch?: number
  /** How often the relay looks at the outbox when nothing in this process woke it. */
  readonly relayPollMs?: number
  /**
   * Where nothing but this process writes the databases (PGlite): the longest a relay waits while
   * idle, and a consumer between looks at its held messages while none is held (defaults: no backoff,
   * and 2 s). A kick wakes either at once.
   */
  readonly idle?: { readonly relayPollMs?: number; readonly heldPollMs?: number }
  /** Messages one consumer takes per fetch. */
  readonly fetchBatch?: number
  /**
   * How long one attempt of a handler may take (its outside work and its transaction) before it fails
   * and is retried; a handler may set its own. Default 60 s.
   */
  readonly handlerTimeoutMs?: number
  /** Keys one consumer handles at the same time (one message of a key at a time). */
  readonly concurrency?: number
  /** How long handled messages are kept: inbox rows, and the transport's settled messages. */
  readonly retentionMs?: number
  /** How often `prune` runs while the bus is started. */
  readonly pruneEveryMs?: number
  /** How often the backlog and the streams' limits are looked at while the bus is started (60 s). */
  readonly backlogEveryMs?: number
}

export interface Bus {
  readonly transport: Transport
  /** Gives a context its publish side (its outbox and relay). */
  attach(context: string, db: ContextDb): ContextBus
  /** Registers consumers of an attached context; they run from `start` on (at once once started). */
  subscribe(context: string, handlers: readonly MessageHandler[]): Promise<void>
  /** Starts every relay and consumer. */
  start(): Promise<void>
  /** Stops taking messages, finishes those in hand, relays what is committed, stops. */
  stop(): Promise<void>
  consumers(): Promise<ConsumerStatus[]>
  /** Rewinds a consumer: every matching message from `from` on is handled again. */
  replay(consumer: string, from: ReplayFrom): Promise<void>
  deadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>
  /**
   * Handles a dead letter again (and releases its key when its handler holds keys); throws
   * ConflictError with the new error when it fails again.
   */
  replayDeadLetter(id: string): Promise<DeadLetter>
  /** Gives up on a dead letter: it is not handled, and a key it held goes on with its next message. */
  discardDeadLetter(id: string): Promise<DeadLetter>
  /** The transport's streams found near their limits at the last look (every minute, and each scrape). */
  nearLimits(): readonly NearLimit[]
  /** Drops inbox rows and settled transport messages older than the retention; runs on a timer too. */
  prune(): Promise<{ inbox: number; transport: number }>
}

/**
 * The bus of one process: a transactional outbox and a relay per context, and per handler a durable
 * consumer whose messages are handled in a transaction with an inbox row (effectively once), retried
 * with backoff, and dead-lettered with the last error.
 */
export function createBus(options: BusOptions): Bus {
  const { transport, catalog, log, clock } = options
  const ackWaitMs = options.ackWaitMs ?? 30_000
  const relayBatch = options.relayBatch ?? 500
  const relayPollMs = options.relayPollMs ?? 250
  const retentionMs = options.retentionMs ?? 7 * 24 * 3_600_000
  const pruneEveryMs = options.pruneEveryMs ?? 10 * 60_000
  const backlogEveryMs = options.backlogEveryMs ?? 60_000
  let pruner: NodeJS.Timeout | undefined
  const attached = new Map<string, Attached>()
  const running = new Map<string, RunningConsumer>()
  const replays = new Map<string, Promise<void>>()
  let started = false

  const runningConsumers = () =>
    [...attached.values()].flatMap((a) =>
      a.handlers
        .map((handler) => ({ name: consumerName(a.context, handler), types: handler.types }))
        .filter(({ name }) => running.has(name)),
    )
  const m = createBusMetrics(options.metrics, transport, {
    consumers: runningConsumers,
    outboxes: () => [...attached.values()],
  })
  const backlog = createBacklogWatch({
    registry: options.metrics,
    transport,
    log,
    consumers: runningConsumers,
    now: () => clock.now(),
  })
  let backlogWatcher: NodeJS.Timeout | undefined
  const publisher = createPublisher({ catalog, clock })
  const handling = createHandling({
    log,
    metrics: m,
    violationsOf: publisher.violationsOf,
    maxDeliveries: options.maxDeliveries ?? 5,
    backoff: options.backoff ?? { baseMs: 500, maxMs: 60_000 },
    handlerTimeoutMs: options.handlerTimeoutMs ?? 60_000,
  })
  const consumerOptions = {
    transport,
    log,
    handling,
    ackWaitMs,
    fetchBatch: options.fetchBatch ?? 256,
    concurrency: options.concurrency ?? 8,
    ...(options.idle?.heldPollMs === undefined ? {} : { heldIdlePollMs: options.idle.heldPollMs }),
  }

  const findHandler = (name: string) => {
    for (const a of attached.values()) {
      for (const handler of a.handlers) if (consumerName(a.context, handler) === name) return { a, handler }
    }
    throw new NotFoundError(`no consumer ${name} runs in this process`)
  }

  const startConsumer = async (a: Attached, handler: MessageHandler) => {
    running.set(consumerName(a.context, handler), await runConsumer(a, handler, consumerOptions))
  }

  const bus: Bus = {
    transport,
    attach(context, db) {
      if (attached.has(context)) throw new InputError(`context ${context} is attached to the bus twice`)
      const relay = createRelay({
        context,
        db,
        transport,
        log,
        batch: relayBatch,
        pollMs: relayPollMs,
        ...(options.idle?.relayPollMs === undefined ? {} : { idlePollMs: options.idle.relayPollMs }),
        onPublished: (types) => {
          for (const type of types) m.published.inc({ type })
        },
      })
      const owner = { context, kick: relay.kick }
      const a: Attached = {
        context,
        db,
        handlers: [],
        relay,
        deadLetters: deadLetterStore(context, db),
        publishAll: (tx, messages, cause) => publisher.publishAll(owner, tx, messages, cause),
      }
      attached.set(context, a)
      if (started) a.relay.start()
      return {
        publish: async <D>(tx: Transaction, message: PublishInput<D>) =>
          (await a.publishAll(tx, [message]))[0] as Envelope<D>,
        publishAll: a.publishAll,
      }
    },
    async subscribe(context, handlers) {
      const a = attached.get(context)
      if (a === undefined) throw new InputError(`context ${context} is not attached to the bus`)
      for (const handler of handlers) {
        if (handler.types.length === 0) throw new InputError(`${context}.${handler.id} subscribes to no type`)
        const unknown = handler.types.filter((t) => !catalog.messages.has(t))
        if (unknown.length > 0)
          throw new InputError(`${context}.${handler.id} subscribes to unknown types: ${unknown.join(', ')}`)
        const stale = (handler.contracts ?? []).filter(
          (c) => catalog.messages.get(c.type)?.version !== c.version,
        )
        if (stale.length > 0)
          throw new InputError(
            `${context}.${handler.id} is declared for ${stale.map((c) => `${c.type} v${c.version} (the bus's catalog has v${catalog.messages.get(c.type)?.version})`).join(', ')}`,
          )
        if (a.handlers.some((h) => h.id === handler.id))
          throw new InputError(`context ${context} has two handlers with id ${handler.id}`)
        a.handlers.push(handler)
      }
      if (started) await Promise.all(handlers.map((handler) => startConsumer(a, handler)))
    },
    async start() {
      if (started) return
      started = true
      // Consumers first (a new durable starts at the beginning of what the transport retains, so the
      // order is no longer needed for delivery; it keeps the first turns' messages out of the backlog).
      // All at once: on PGlite (one connection) each consumer's first looks would otherwise queue ahead of
      // the next one's registration. Settled in full before a failure is thrown, so that `stop` finds
      // every consumer that did start.
      const starts = await Promise.allSettled(
        [...attached.values()].flatMap((a) => a.handlers.map((handler) => startConsumer(a, handler))),
      )
      const failed = starts.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed !== undefined) throw failed.reason
      for (const a of attached.values()) a.relay.start()
      clearInterval(pruner)
      pruner = setInterval(() => {
        bus.prune().catch((error: unknown) => log.warn({ err: error }, 'bus prune failed'))
      }, pruneEveryMs)
      pruner.unref()
      // Between scrapes too: a stream nearing its limits is logged even where nobody scrapes.
      clearInterval(backlogWatcher)
      backlogWatcher = setInterval(() => {
        backlog.check().catch((error: unknown) => log.warn({ err: error }, 'bus backlog check failed'))
      }, backlogEveryMs)
      backlogWatcher.unref()
    },
    async stop() {
      started = false
      clearInterval(pruner)
      clearInterval(backlogWatcher)
      await Promise.all([...running.values()].map((c) => c.stop()))
      running.clear()
      await Promise.all([...attached.values()].map((a) => a.relay.stop()))
    },
    async consumers() {
      return Promise.all(
        [...attached.values()].flatMap((a) =>
          a.handlers.map(async (handler) => {
            const name = consumerName(a.context, handler)
            const lag = await transport.lag({ name, types: handler.types, ackWaitMs })
            return { consumer: name, context: a.context, types: handler.types, lag }
          }),
        ),
      )
    },
    async replay(name, from) {
      const { a, handler } = findHandler(name)
      if ('time' in from && from.time.getTime() > clock.now().getTime()) {
        throw new InputError(`a replay starts in the past; ${from.time.toISOString()} is in the future`)
      }
      const previous = replays.get(name) ?? Promise.resolve()
      const replay = previous
        .catch(() => undefined)
        .then(async () => {
          const current = running.get(name)
          running.delete(name)
          try {
            await current?.stop()
            // The new generation first, then the rewind: a replica that is handed a replayed message
            // already sees it as new. The transport never moves the consumer forward (it keeps its
            // position when that is before the point); the point recorded here is the requested one,
            // so that what it handled before the point stays handled once.
            const { rows } = await a.db.query<{
              generation: number
              replayedAt: Date | null
              seq: string | null
              time: Date | null
            }>(
              `UPDATE rxt_consumers c
                  SET generation = c.generation + 1, replayed_at = now(), replay_from_seq = $2, replay_from_time = $3
                 FROM rxt_consumers old WHERE c.consumer = $1 AND old.consumer = $1
               RETURNING old.generation AS generation, old.replayed_at AS "replayedAt",
                         old.replay_from_seq AS seq, old.replay_from_time AS time`,
              [name, 'seq' in from ? from.seq : null, 'time' in from ? from.time : null],
            )
            try {
              await transport.replay({ name, types: handler.types, ackWaitMs }, from)
            } catch (error) {
              // Refused: the consumer is as it was, its generation and earlier replay point with it (a
              // message handled meanwhile under the new generation may then be handled twice, never lost).
              const old = rows[0]
              if (old !== undefined)
                await a.db.query(
                  `UPDATE rxt_consumers SET generation = $2, replayed_at = $3, replay_from_seq = $4, replay_from_time = $5
                    WHERE consumer = $1`,
                  [name, old.generation, old.replayedAt, old.seq, old.time],
                )
              throw error
            }
            log.info({ consumer: name, from }, 'consumer replayed')
          } finally {
            if (started && !running.has(name)) await startConsumer(a, handler)
          }
        })
      replays.set(name, replay)
      try {
        await replay
      } finally {
        if (replays.get(name) === replay) replays.delete(name)
      }
    },
    async deadLetters(filter = {}) {
      const limit = Math.min(filter.limit ?? 100, 1000)
      const lists = await Promise.all([...attached.values()].map((a) => a.deadLetters.list(filter, limit)))
      return lists
        .flat()
        .sort((x, y) => (x.deadAt < y.deadAt ? 1 : x.deadAt > y.deadAt ? -1 : 0))
        .slice(0, limit)
    },
    async prune() {
      const olderThan = new Date(clock.now().getTime() - retentionMs)
      let inbox = 0
      for (const a of attached.values()) {
        const { rowCount } = await a.db.query('DELETE FROM rxt_inbox WHERE handled_at < $1', [olderThan])
        inbox += rowCount
      }
      const dropped = await transport.prune(olderThan)
      if (inbox + dropped > 0) log.info({ inbox, transport: dropped, olderThan }, 'bus pruned')
      return { inbox, transport: dropped }
    },
    async replayDeadLetter(id) {
      if (!/^[0-9a-f-]{36}$/i.test(id))
        throw new InputError(`dead letter id ${JSON.stringify(id)} is not a UUID`)
      for (const a of attached.values()) {
        const letter = await a.deadLetters.find(id)
        if (letter === undefined) continue
        const { handler } = findHandler(letter.consumer)
        const violations = publisher.violationsOf(letter.envelope)
        if (violations.length > 0) {
          throw new ConflictError(
            `dead letter ${id} is still not a valid message: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
          )
        }
        if (letter.discardedAt !== null) throw new ConflictError(`dead letter ${id} was discarded`)
        let replayed: DeadLetter | undefined
        try {
          // Handled, marked replayed and its key released (when it held it) together.
          await handling.handleInTx(
            a,
            handler,
            letter.envelope as Envelope,
            letter.deliveries + 1,
            null,
            async (tx) => {
              await tx.query('DELETE FROM rxt_held WHERE dead_letter = $1', [id])
              replayed = await a.deadLetters.replayed(id, tx)
            },
          )
        } catch (error) {
          await a.deadLetters.failedAgain(id, errorText(error))
          throw new ConflictError(`dead letter ${id} failed again: ${errorText(error)}`, { cause: error })
        }
        running.get(letter.consumer)?.kick()
        log.info({ deadLetter: id, consumer: letter.consumer }, 'dead letter replayed')
        return replayed as DeadLetter
      }
      throw new NotFoundError(`no dead letter ${id}`)
    },
    async discardDeadLetter(id) {
      if (!/^[0-9a-f-]{36}$/i.test(id))
        throw new InputError(`dead letter id ${JSON.stringify(id)} is not a UUID`)
      for (const a of attached.values()) {
        const letter = await a.deadLetters.find(id)
        if (letter === undefined) continue
        const discarded = await a.deadLetters.discarded(id)
        if (discarded === undefined) {
          throw new ConflictError(
            `dead letter ${id} was already ${letter.replayedAt !== null ? 'replayed' : 'discarded'}`,
          )
        }
        running.get(letter.consumer)?.kick()
        log.info({ deadLetter: id, consumer: letter.consumer }, 'dead letter discarded')
        return discarded
      }
      throw new NotFoundError(`no dead letter ${id}`)
    },
    nearLimits: () => backlog.nearLimits(),
  }
  return bus
}
