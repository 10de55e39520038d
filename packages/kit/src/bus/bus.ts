import { randomUUID } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Envelope, type MessageCatalog, validateEnvelope, validatePayload } from '@rxt/contracts'
import { Counter, Gauge, type Registry } from 'prom-client'
import { v7 as uuidv7 } from 'uuid'
import type { Clock } from '../clock.ts'
import type { ContextDb, Transaction } from '../db/index.ts'
import { ConflictError, InputError, isKitError, NotFoundError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { currentScope, withScope } from '../scope.ts'
import { type BackoffPolicy, backoffDelay } from './backoff.ts'
import type { ConsumerSpec, Delivery, ReplayFrom, Transport, TransportConsumer } from './transport.ts'

/** What a context publishes: the rest of the envelope is filled in from the scope and the catalog. */
export interface PublishInput<D = unknown> {
  readonly type: string
  readonly data: D
  readonly tenantId: string | null
  /** Ordering key (default: the tenant, or `platform`). */
  readonly key?: string
  /** Stable across retries of one intent (default: the message id). */
  readonly idempotencyKey?: string
  /** Default: the catalog's current version of the type. */
  readonly version?: number
  readonly correlationId?: string
  readonly causationId?: string | null
}

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
   * Runs in a transaction with the message's inbox row: a message is handled effectively once. Throw a
   * kit error with `retryable: false` (InputError, NotFoundError, …) to dead-letter it at once; any
   * other error is retried with backoff up to the bus's maxDeliveries.
   */
  readonly handle: (message: Envelope, context: HandlerContext) => Promise<void>
}

/** A context's side of the bus. */
export interface ContextBus {
  /** Validates the message and writes it to the outbox in `tx`: it is published if and only if `tx` commits. */
  publish<D>(tx: Transaction, message: PublishInput<D>): Promise<Envelope<D>>
  /** As `publish`, for several messages in one statement; all are valid or none is written. */
  publishAll(tx: Transaction, messages: readonly PublishInput[]): Promise<Envelope[]>
}

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
  /** Messages one consumer takes per fetch. */
  readonly fetchBatch?: number
  /** Keys one consumer handles at the same time (one message of a key at a time). */
  readonly concurrency?: number
  /** How long handled messages are kept: inbox rows, and the transport's settled messages. */
  readonly retentionMs?: number
  /** How often `prune` runs while the bus is started. */
  readonly pruneEveryMs?: number
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
  deadLetters(filter?: {
    consumer?: string
    includeReplayed?: boolean
    limit?: number
  }): Promise<DeadLetter[]>
  /** Handles a dead letter again; throws ConflictError with the new error when it fails again. */
  replayDeadLetter(id: string): Promise<DeadLetter>
  /** Drops inbox rows and settled transport messages older than the retention; runs on a timer too. */
  prune(): Promise<{ inbox: number; transport: number }>
}

interface Attached {
  readonly context: string
  readonly db: ContextDb
  readonly handlers: MessageHandler[]
  readonly relay: Relay
}

interface Relay {
  kick(): void
  start(): void
  stop(): Promise<void>
}

const consumerName = (context: string, handler: MessageHandler) => `${context}.${handler.id}`

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

/** The largest envelope the bus carries (NATS' default max_payload is 1 MiB, with headers). */
export const maxMessageBytes = 512 * 1024

/** What every transport can carry: a key that is a header value, a body under the size limit. */
function transportViolations(envelope: Envelope, body: string): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = []
  if (envelope.key !== undefined && !/^[\x21-\x7e]+$/.test(envelope.key)) {
    problems.push({ path: '/key', message: 'must be printable ASCII without spaces' })
  }
  const bytes = Buffer.byteLength(body)
  if (bytes > maxMessageBytes) {
    problems.push({ path: '/data', message: `makes a message of ${bytes} bytes; at most ${maxMessageBytes}` })
  }
  return problems
}

/** A delivery whose envelope parsed and validated. */
interface Screened {
  readonly delivery: Delivery
  readonly envelope: Envelope
  duplicate?: boolean
}

/**
 * The bus of one process: a transactional outbox and a relay per context, and per handler a durable
 * consumer whose messages are handled in a transaction with an inbox row (effectively once), retried
 * with backoff, and dead-lettered with the last error.
 */
export function createBus(options: BusOptions): Bus {
  const { transport, catalog, log, clock } = options
  const maxDeliveries = options.maxDeliveries ?? 5
  const ackWaitMs = options.ackWaitMs ?? 30_000
  const backoff = options.backoff ?? { baseMs: 500, maxMs: 60_000 }
  const relayBatch = options.relayBatch ?? 500
  const relayPollMs = options.relayPollMs ?? 250
  const fetchBatch = options.fetchBatch ?? 256
  const concurrency = options.concurrency ?? 8
  const retentionMs = options.retentionMs ?? 7 * 24 * 3_600_000
  const pruneEveryMs = options.pruneEveryMs ?? 10 * 60_000
  let pruner: NodeJS.Timeout | undefined
  const attached = new Map<string, Attached>()
  const running = new Map<string, { stop(): Promise<void> }>()
  const replays = new Map<string, Promise<void>>()
  let started = false

  const m = busMetrics(options.metrics, () => [...attached.values()], transport, running)

  const envelopeOf = <D>(input: PublishInput<D>, cause?: Envelope): Envelope<D> => {
    const contract = catalog.messages.get(input.type)
    const id = uuidv7()
    const scope = currentScope()
    return {
      id,
      type: input.type,
      version: input.version ?? contract?.version ?? 1,
      time: clock.now().toISOString(),
      tenantId: input.tenantId,
      correlationId: input.correlationId ?? cause?.correlationId ?? scope?.correlationId ?? id,
      causationId: input.causationId !== undefined ? input.causationId : (cause?.id ?? null),
      idempotencyKey: input.idempotencyKey ?? id,
      key: input.key ?? input.tenantId ?? 'platform',
      data: input.data,
    }
  }

  const violationsOf = (envelope: unknown) => {
    const problems = validateEnvelope(envelope)
    if (problems.length > 0) return problems
    const e = envelope as Envelope
    return validatePayload(catalog, e.type, e.version, e.data)
  }

  /** Validates messages and writes them to the outbox in `tx`, in order, in one statement. */
  const publishAllIn = async (
    a: Attached,
    tx: Transaction,
    inputs: readonly PublishInput[],
    cause?: Envelope,
  ): Promise<Envelope[]> => {
    if (tx === undefined || typeof tx.afterCommit !== 'function' || tx.context !== a.context) {
      throw new InputError(
        `${a.context}: publish takes the context's open transaction (db.transaction(tx => …))`,
      )
    }
    const envelopes = inputs.map((input) => envelopeOf(input, cause))
    const bodies = envelopes.map((e) => JSON.stringify(e))
    for (const [i, envelope] of envelopes.entries()) {
      const violations = [...violationsOf(envelope), ...transportViolations(envelope, bodies[i] as string)]
      if (violations.length > 0) {
        throw new InputError(
          `${envelope.type} is not a valid message${inputs.length > 1 ? ` (message ${i + 1} of ${inputs.length})` : ''}: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
          violations,
        )
      }
    }
    if (envelopes.length === 0) return []
    await tx.query(
      `INSERT INTO rxt_outbox (id, type, key, body)
       SELECT id, type, key, body FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
              WITH ORDINALITY AS m(id, type, key, body, n)
        ORDER BY n`,
      [envelopes.map((e) => e.id), envelopes.map((e) => e.type), envelopes.map((e) => e.key), bodies],
    )
    tx.afterCommit(a.relay.kick)
    return envelopes
  }

  const publishIn = async <D>(
    a: Attached,
    tx: Transaction,
    input: PublishInput<D>,
    cause?: Envelope,
  ): Promise<Envelope<D>> => (await publishAllIn(a, tx, [input], cause))[0] as Envelope<D>

  const deadLetter = async (
    a: Attached,
    consumer: string,
    body: string,
    envelope: unknown,
    error: string,
    deliveries: number,
  ) => {
    const e = envelope as Partial<Envelope> | undefined
    const messageId = typeof e?.id === 'string' && /^[0-9a-f-]{36}$/i.test(e.id) ? e.id : null
    await a.db.query(
      `INSERT INTO rxt_dead_letters (id, consumer, message_id, type, envelope, error, deliveries)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
      [
        uuidv7(),
        consumer,
        messageId,
        typeof e?.type === 'string' ? e.type : 'unknown',
        envelope === undefined ? JSON.stringify(body) : JSON.stringify(envelope),
        error.slice(0, 4000),
        deliveries,
      ],
    )
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
      publish: (message) => publishIn(a, tx, message, envelope),
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

  const errorText = (error: unknown) =>
    error instanceof Error ? `${error.name}: ${error.message}` : `non-error thrown: ${String(error)}`

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

  /**
   * The consumer of one handler. The fetch loop queues what it fetches; up to `concurrency` workers
   * each take a share of the queue whose keys no other worker holds, and handle it in one transaction
   * (one by one when a handler fails). One key is handled in order by one worker at a time; keys run in
   * parallel; a worker takes what accumulated while it was busy, so that transactions grow with load.
   */
  const runConsumer = async (a: Attached, handler: MessageHandler) => {
    const spec: ConsumerSpec = {
      name: consumerName(a.context, handler),
      types: handler.types,
      ackWaitMs,
      prefetch: fetchBatch * 2,
    }
    await a.db.query('INSERT INTO rxt_consumers (consumer) VALUES ($1) ON CONFLICT DO NOTHING', [spec.name])
    const consumer: TransportConsumer = await transport.consumer(spec)
    let queue: Screened[] = []
    /** Keys a worker is handling: their later messages wait for it. */
    const held = new Set<string>()
    /** Keys whose message went back for a retry: their later messages go back too, behind it. */
    const blocked = new Set<string>()
    const workers = new Set<Promise<void>>()
    const progress = new EventEmitter()
    let inHand = 0
    let stopping = false

    /** Takes a share of the queue: in order, skipping held keys; holds the keys it takes. */
    const take = (): Screened[] => {
      const limit = Math.max(16, Math.ceil(queue.length / concurrency))
      const group: Screened[] = []
      const rest: Screened[] = []
      const taken = new Set<string>()
      for (const g of queue) {
        const key = g.delivery.key
        if ((held.has(key) && !taken.has(key)) || (group.length >= limit && !taken.has(key))) rest.push(g)
        else {
          group.push(g)
          taken.add(key)
        }
      }
      for (const key of taken) held.add(key)
      queue = rest
      return group
    }

    const work = async () => {
      for (let group = take(); group.length > 0; group = take()) {
        let done = false
        if (group.length > 1 && !group.some((g) => blocked.has(g.delivery.key))) {
          try {
            await handleGroupInTx(a, handler, group)
            done = true
          } catch (error) {
            log.debug({ err: error, consumer: spec.name }, 'group failed; handling its messages one by one')
          }
        }
        if (!done) await deliverInOrder(a, handler, group, blocked)
        for (const g of group) {
          held.delete(g.delivery.key)
          if (!queue.some((q) => q.delivery.key === g.delivery.key)) blocked.delete(g.delivery.key)
        }
        inHand -= group.length
        progress.emit('settled')
      }
    }

    // A worker starts when none runs, or when the backlog can keep one more busy: fewer, larger
    // transactions under a trickle; every worker under a flood or behind slow handlers.
    const eligible = () => queue.reduce((n, g) => (held.has(g.delivery.key) ? n : n + 1), 0)
    const spawn = () => {
      while (workers.size < concurrency && eligible() > (workers.size === 0 ? 0 : 16)) {
        const worker: Promise<void> = work().finally(() => {
          workers.delete(worker)
          spawn()
        })
        workers.add(worker)
      }
    }

    const loop = (async () => {
      while (!stopping) {
        if (inHand >= fetchBatch * 2) {
          await once(progress, 'settled')
          continue
        }
        let deliveries: Delivery[]
        try {
          deliveries = await consumer.fetch(fetchBatch, 500)
        } catch (error) {
          log.error({ err: error, consumer: spec.name }, 'bus fetch failed')
          await sleep(1000)
          continue
        }
        // Screened in full before any is queued, so that a worker never sees a later message of a key
        // before an earlier one (dead-lettering an invalid message takes a moment).
        const screened: Screened[] = []
        for (const d of deliveries) {
          const valid = await screen(a, handler, d).catch((error: unknown) => {
            log.error({ err: error, consumer: spec.name }, 'bus delivery failed')
            return undefined
          })
          if (valid !== undefined) screened.push(valid)
        }
        queue.push(...screened)
        inHand += screened.length
        spawn()
      }
    })()
    return {
      async stop() {
        stopping = true
        progress.emit('settled')
        await consumer.close()
        await loop
        while (workers.size > 0) await Promise.all(workers)
      },
    }
  }

  const createRelay = (context: string, db: ContextDb): Relay => {
    const owner = randomUUID()
    const wake = new EventEmitter()
    let stopping = false
    let loop: Promise<void> | undefined
    const leaseMs = Math.max(5_000, relayPollMs * 20)

    let leaseUntil = 0
    /** Publishes one batch when this replica holds the relay lease; the number of messages sent. */
    const turn = async (): Promise<number> => {
      // The lease is renewed once half of it has passed, not on every turn.
      if (Date.now() > leaseUntil - leaseMs / 2) {
        const renewedAt = Date.now()
        const lease = await db.query(
          `INSERT INTO rxt_relay (owner, lease_until) VALUES ($1, now() + make_interval(secs => $2::double precision / 1000))
         ON CONFLICT (singleton) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
          WHERE rxt_relay.owner = EXCLUDED.owner OR rxt_relay.lease_until < now()
         RETURNING owner`,
          [owner, leaseMs],
        )
        if (lease.rowCount === 0) {
          leaseUntil = 0
          return 0
        }
        leaseUntil = renewedAt + leaseMs
      }
      const { rows } = await db.query<{
        seq: string
        id: string
        type: string
        key: string
        body: string
        created_at: Date | string
      }>('SELECT seq, id, type, key, body, created_at FROM rxt_outbox ORDER BY seq LIMIT $1', [relayBatch])
      if (rows.length === 0) return 0
      await transport.publish(
        rows.map((r) => ({ id: r.id, type: r.type, key: r.key, body: r.body, time: new Date(r.created_at) })),
      )
      // Exactly the rows sent: a transaction that took a lower seq may commit after the SELECT.
      await db.query('DELETE FROM rxt_outbox WHERE seq = ANY($1::bigint[])', [rows.map((r) => r.seq)])
      for (const r of rows) m.published.inc({ type: r.type })
      return rows.length
    }

    const run = async () => {
      while (!stopping) {
        let sent = 0
        try {
          sent = await turn()
        } catch (error) {
          log.error({ err: error, context }, 'relay turn failed; retrying')
          await sleep(1000)
        }
        if (sent < relayBatch && !stopping) {
          const controller = new AbortController()
          const { signal } = controller
          await Promise.race([
            once(wake, 'kick', { signal }).catch(() => undefined),
            sleep(relayPollMs, undefined, { signal }).catch(() => undefined),
          ])
          controller.abort()
        }
      }
      // A last turn: what committed before the stop goes out now.
      await turn().catch((error: unknown) => log.error({ err: error, context }, 'final relay turn failed'))
      await db
        .query('DELETE FROM rxt_relay WHERE owner = $1', [owner])
        .catch((error: unknown) => log.warn({ err: error, context }, 'relay lease not released'))
    }
    return {
      kick: () => wake.emit('kick'),
      start() {
        if (loop !== undefined) return
        stopping = false
        loop = run().finally(() => {
          loop = undefined
        })
      },
      async stop() {
        stopping = true
        wake.emit('kick')
        await loop
      },
    }
  }

  const findHandler = (name: string) => {
    for (const a of attached.values()) {
      for (const handler of a.handlers) if (consumerName(a.context, handler) === name) return { a, handler }
    }
    throw new NotFoundError(`no consumer ${name} runs in this process`)
  }

  const startConsumer = async (a: Attached, handler: MessageHandler) => {
    running.set(consumerName(a.context, handler), await runConsumer(a, handler))
  }

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
  })

  const bus: Bus = {
    transport,
    attach(context, db) {
      if (attached.has(context)) throw new InputError(`context ${context} is attached to the bus twice`)
      const a: Attached = { context, db, handlers: [], relay: createRelay(context, db) }
      attached.set(context, a)
      if (started) a.relay.start()
      return {
        publish: (tx, message) => publishIn(a, tx, message),
        publishAll: (tx, messages) => publishAllIn(a, tx, messages),
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
        if (a.handlers.some((h) => h.id === handler.id))
          throw new InputError(`context ${context} has two handlers with id ${handler.id}`)
        a.handlers.push(handler)
      }
      if (started) await Promise.all(handlers.map((handler) => startConsumer(a, handler)))
    },
    async start() {
      if (started) return
      started = true
      // Consumers first: a durable consumer starts at the end of the stream, so it must exist before
      // the relays publish what the contexts wrote.
      for (const a of attached.values()) for (const handler of a.handlers) await startConsumer(a, handler)
      for (const a of attached.values()) a.relay.start()
      clearInterval(pruner)
      pruner = setInterval(() => {
        bus.prune().catch((error: unknown) => log.warn({ err: error }, 'bus prune failed'))
      }, pruneEveryMs)
      pruner.unref()
    },
    async stop() {
      started = false
      clearInterval(pruner)
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
            await transport.replay({ name, types: handler.types, ackWaitMs }, from)
            await a.db.query(
              `UPDATE rxt_consumers
                  SET generation = generation + 1, replayed_at = now(), replay_from_seq = $2, replay_from_time = $3
                WHERE consumer = $1`,
              [name, 'seq' in from ? from.seq : null, 'time' in from ? from.time : null],
            )
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
      const lists = await Promise.all(
        [...attached.values()].map(async (a) => {
          const { rows } = await a.db.query(
            `SELECT * FROM rxt_dead_letters
              WHERE ($1::text IS NULL OR consumer = $1) AND ($2 OR replayed_at IS NULL)
              ORDER BY dead_at DESC, id DESC LIMIT $3`,
            [filter.consumer ?? null, filter.includeReplayed === true, limit],
          )
          return rows.map((r) => toDeadLetter(a.context, r))
        }),
      )
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
        const { rows } = await a.db.query('SELECT * FROM rxt_dead_letters WHERE id = $1', [id])
        const row = rows[0]
        if (row === undefined) continue
        const letter = toDeadLetter(a.context, row)
        const { handler } = findHandler(letter.consumer)
        const violations = violationsOf(letter.envelope)
        if (violations.length > 0) {
          throw new ConflictError(
            `dead letter ${id} is still not a valid message: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
          )
        }
        try {
          await handleInTx(a, handler, letter.envelope as Envelope, letter.deliveries + 1, null)
        } catch (error) {
          await a.db.query('UPDATE rxt_dead_letters SET error = $2, replays = replays + 1 WHERE id = $1', [
            id,
            errorText(error).slice(0, 4000),
          ])
          throw new ConflictError(`dead letter ${id} failed again: ${errorText(error)}`, { cause: error })
        }
        const updated = await a.db.query(
          'UPDATE rxt_dead_letters SET replayed_at = now(), replays = replays + 1 WHERE id = $1 RETURNING *',
          [id],
        )
        log.info({ deadLetter: id, consumer: letter.consumer }, 'dead letter replayed')
        return toDeadLetter(a.context, updated.rows[0] as Record<string, unknown>)
      }
      throw new NotFoundError(`no dead letter ${id}`)
    },
  }
  return bus
}

function busMetrics(
  registry: Registry,
  contexts: () => Attached[],
  transport: Transport,
  running: ReadonlyMap<string, unknown>,
) {
  const registers = [registry]
  return {
    published: new Counter({
      name: 'rxt_bus_published_total',
      help: 'Messages the relay handed to the transport, by type',
      labelNames: ['type'],
      registers,
    }),
    delivered: new Counter({
      name: 'rxt_bus_delivered_total',
      help: 'Deliveries to a consumer (first and repeated)',
      labelNames: ['consumer'],
      registers,
    }),
    redelivered: new Counter({
      name: 'rxt_bus_redelivered_total',
      help: 'Deliveries of a message the consumer had been given before',
      labelNames: ['consumer'],
      registers,
    }),
    duplicates: new Counter({
      name: 'rxt_bus_duplicates_total',
      help: 'Deliveries acknowledged without handling: the inbox had the message',
      labelNames: ['consumer'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'rxt_bus_dead_lettered_total',
      help: 'Messages a consumer gave up on',
      labelNames: ['consumer'],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'rxt_bus_consumer_lag',
      help: 'Messages a consumer has not settled yet',
      labelNames: ['consumer'],
      registers,
      async collect() {
        this.reset()
        for (const a of contexts()) {
          for (const handler of a.handlers) {
            const name = consumerName(a.context, handler)
            if (!running.has(name)) continue
            try {
              this.set({ consumer: name }, await transport.lag({ name, types: handler.types, ackWaitMs: 0 }))
            } catch {
              // The transport is down: readiness says so; the gauge shows no value.
            }
          }
        }
      },
    }),
    relayLag: new Gauge({
      name: 'rxt_bus_relay_lag_seconds',
      help: 'Age of the oldest committed message still in a context outbox',
      labelNames: ['context'],
      registers,
      async collect() {
        this.reset()
        for (const a of contexts()) {
          const { rows } = await a.db
            .query<{ age: number | null }>(
              'SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM rxt_outbox',
            )
            .catch(() => ({ rows: [] as { age: number | null }[] }))
          this.set({ context: a.context }, rows[0]?.age ?? 0)
        }
      },
    }),
  }
}
