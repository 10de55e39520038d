import { setTimeout as sleep } from 'node:timers/promises'
import type { Envelope } from '@rxt/contracts'
import type { Row, Transaction } from '../db/index.ts'
import { isKitError, UnavailableError, type Violation } from '../errors.ts'
import type { Logger } from '../log.ts'
import { withScope } from '../scope.ts'
import { type BackoffPolicy, backoffDelay } from './backoff.ts'
import type { Attached, HandlerContext, MessageHandler } from './handler.ts'
import { consumerName, errorText } from './handler.ts'
import { createHeldHandling } from './held.ts'
import type { BusMetrics } from './metrics.ts'
import { createScreening, type Screened } from './screen.ts'

export type { ActContext, Attached, HandlerContext, MessageHandler } from './handler.ts'
export { consumerName, errorText } from './handler.ts'
export type { Screened } from './screen.ts'

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

/**
 * As `inboxInsert`, for a group, in one statement with the look at `rxt_held`: the keys of the group
 * that are held (a row with `key`), and the messages of the other keys that are new (a row with
 * `message_id`). A held key's messages get no inbox row here: they are held behind it.
 */
const groupInsert = `
  WITH held AS (SELECT DISTINCT key FROM rxt_held WHERE consumer = $1 AND key = ANY($5::text[])),
       inserted AS (
         INSERT INTO rxt_inbox (consumer, generation, message_id)
         SELECT $1, c.generation, m.id
           FROM rxt_consumers c,
                unnest($2::uuid[], $3::bigint[], $4::timestamptz[], $5::text[]) AS m(id, seq, time, key)
          WHERE c.consumer = $1
            AND NOT EXISTS (SELECT 1 FROM held h WHERE h.key = m.key)
            AND (c.generation = 0
                 OR m.seq >= c.replay_from_seq OR m.time >= c.replay_from_time
                 OR NOT EXISTS (SELECT 1 FROM rxt_inbox i
                                 WHERE i.consumer = $1 AND i.message_id = m.id AND i.generation < c.generation))
         ON CONFLICT DO NOTHING RETURNING message_id)
  SELECT key, NULL::uuid AS message_id FROM held
  UNION ALL
  SELECT NULL, message_id FROM inserted`

/**
 * `tx` with a savepoint taken just before the first statement sent through it (in the same round
 * trip: a pipelining driver sends both at once), none when nothing is sent. `taken` says whether it
 * was.
 */
const lazySavepoint = (tx: Transaction) => {
  let taken = false
  const handle: Transaction = {
    context: tx.context,
    afterCommit: (hook) => tx.afterCommit(hook),
    query: <R extends Row = Row>(text: string, params?: readonly unknown[]) => {
      if (taken) return tx.query<R>(text, params)
      taken = true
      const savepoint = tx.query('SAVEPOINT rxt_message')
      const statement = tx.query<R>(text, params)
      return Promise.all([savepoint, statement]).then(([, result]) => result)
    },
  }
  return { tx: handle, taken: () => taken }
}

/** A handler's failure on a message handled alone, carried out of its transaction. */
class LoneFailure extends Error {
  constructor(cause: unknown) {
    super('handler failed', { cause })
  }
}

export interface HandlingOptions {
  readonly log: Logger
  readonly metrics: BusMetrics
  readonly violationsOf: (envelope: unknown) => Violation[]
  /** Deliveries of one message before it is dead-lettered. */
  readonly maxDeliveries: number
  readonly backoff: BackoffPolicy
  /** How long one attempt of a handler may take unless it says otherwise. */
  readonly handlerTimeoutMs: number
}

/**
 * How a consumer handles what it is delivered: screened (invalid → dead letter), then in a transaction
 * with the inbox row (effectively once), alone or many at a time, retried or dead-lettered on failure.
 */
export function createHandling(options: HandlingOptions) {
  const { log, metrics: m, violationsOf, maxDeliveries, backoff, handlerTimeoutMs } = options

  const scopeOf = (envelope: Envelope) => ({
    correlationId: envelope.correlationId,
    ...(envelope.tenantId ? { tenantId: envelope.tenantId } : {}),
    ...(envelope.actor ? { actor: envelope.actor } : {}),
  })

  const timeoutOf = (handler: MessageHandler) => handler.timeoutMs ?? handlerTimeoutMs
  /** When an attempt starting now must be over: its `act` and its transaction share one timeout. */
  const deadlineOf = (handler: MessageHandler) => Date.now() + timeoutOf(handler)

  /**
   * Runs `fn` until `deadline`: past it, `signal` is aborted and the attempt fails with a retryable
   * error (what `fn` still does is no longer waited for; `expired` says so to the caller).
   */
  const timed = async <T>(
    handler: MessageHandler,
    consumer: string,
    deadline: number,
    fn: (signal: AbortSignal) => Promise<T>,
    expired: { value: boolean } = { value: false },
  ) => {
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const past = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          expired.value = true
          controller.abort()
          reject(
            new UnavailableError(`${consumer} did not finish within its timeout of ${timeoutOf(handler)} ms`),
          )
        },
        Math.max(1, deadline - Date.now()),
      )
    })
    try {
      return await Promise.race([fn(controller.signal), past])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Outside work that outlived its timeout, by consumer and key: a key's next act (the retry, or its
   * next message) waits for it to settle (at most one more timeout), so that one key's outside calls do
   * not overlap in this process.
   */
  const abandoned = new Map<string, Promise<unknown>>()

  /** A logger for one message, made on first use (a child logger costs more than most handlers). */
  const lazyLog = (a: Attached, handler: MessageHandler, envelope: Envelope) => {
    let scoped: Logger | undefined
    return () => {
      scoped ??= log.child({
        context: a.context,
        consumer: consumerName(a.context, handler),
        messageId: envelope.id,
        type: envelope.type,
      })
      return scoped
    }
  }

  /** Runs a handler's outside work (`act`), with no transaction open, until the attempt's deadline. */
  const runAct = async (
    a: Attached,
    handler: MessageHandler,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
    deadline: number,
  ): Promise<unknown> => {
    const act = handler.act
    if (act === undefined) return undefined
    const consumer = consumerName(a.context, handler)
    const lane = `${consumer}\u0000${envelope.key ?? ''}`
    const before = abandoned.get(lane)
    if (before !== undefined) {
      const grace = new AbortController()
      await Promise.race([
        before,
        sleep(timeoutOf(handler), undefined, { signal: grace.signal }).catch(() => undefined),
      ])
      grace.abort()
    }
    const logOf = lazyLog(a, handler, envelope)
    let work: Promise<unknown> | undefined
    const expired = { value: false }
    try {
      return await timed(
        handler,
        consumer,
        deadline,
        (signal) =>
          (work = withScope(scopeOf(envelope), () =>
            act(envelope, {
              get log() {
                return logOf()
              },
              deliveryCount,
              sequence,
              signal,
            }),
          )),
        expired,
      )
    } finally {
      if (expired.value && work !== undefined) {
        const settled: Promise<unknown> = work
          .catch(() => undefined)
          .finally(() => {
            if (abandoned.get(lane) === settled) abandoned.delete(lane)
          })
        abandoned.set(lane, settled)
      }
    }
  }

  /** A handler's outcome must come from its act: a message that turned new after it was looked at did not act. */
  const notActed = (consumer: string) =>
    new UnavailableError(
      `${consumer}: the message became new again (a replay) after it was looked at; it is acted on at its retry`,
    )

  /**
   * Runs the handler on one message inside `tx` (whose inbox row is already written), under its
   * timeout. The handler sees the transaction through a handle that refuses statements once it returned
   * or timed out, and whose commit hooks count only when it succeeded: a timed-out or failed handler's
   * late work cannot reach a transaction (or a savepoint) that went on without it.
   */
  const runHandler = async (
    a: Attached,
    handler: MessageHandler,
    tx: Transaction,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
    outcome?: unknown,
    deadline: number = deadlineOf(handler),
  ) => {
    const consumer = consumerName(a.context, handler)
    let open = true
    const hooks: (() => void)[] = []
    const own: Transaction = {
      context: tx.context,
      query: (text, params) =>
        open
          ? tx.query(text, params)
          : Promise.reject(
              new Error(
                `${consumer}: a statement was sent on a handler's transaction after its attempt ended`,
              ),
            ),
      afterCommit: (hook) => {
        if (open) hooks.push(hook)
      },
    }
    const logOf = lazyLog(a, handler, envelope)
    try {
      await timed(handler, consumer, deadline, (signal) => {
        const context: HandlerContext = {
          tx: own,
          publish: async (message) => {
            if (!open) throw new Error(`${consumer}: published after its attempt ended`)
            return (await a.publishAll(tx, [message], envelope))[0] as Envelope<never>
          },
          get log() {
            return logOf()
          },
          deliveryCount,
          sequence,
          signal,
          outcome,
        }
        return withScope(scopeOf(envelope), () => handler.handle(envelope, context))
      })
    } finally {
      open = false
    }
    for (const hook of hooks) tx.afterCommit(hook)
  }

  /**
   * Whether the consumer would take a message as new (what `inboxInsert` would insert), and whether
   * its key is held: read before a handler's outside work, which must not run for a duplicate or ahead
   * of a held key.
   */
  const probe = async (
    a: Attached,
    handler: MessageHandler,
    envelope: Envelope,
    seq: number | null,
    key: string,
  ) => {
    const { rows } = await a.db.query<{ fresh: boolean | null; held: boolean }>(
      `SELECT (c.generation = 0 OR $3::bigint >= c.replay_from_seq OR $4::timestamptz >= c.replay_from_time
               OR NOT EXISTS (SELECT 1 FROM rxt_inbox i
                               WHERE i.consumer = $1 AND i.message_id = $2 AND i.generation < c.generation))
              AND NOT EXISTS (SELECT 1 FROM rxt_inbox i
                               WHERE i.consumer = $1 AND i.generation = c.generation AND i.message_id = $2) AS fresh,
              EXISTS (SELECT 1 FROM rxt_held h WHERE h.consumer = $1 AND h.key = $5) AS held
         FROM rxt_consumers c WHERE c.consumer = $1`,
      [consumerName(a.context, handler), envelope.id, seq, envelope.time, key],
    )
    return { fresh: rows[0]?.fresh === true, held: rows[0]?.held === true }
  }

  /**
   * Runs the handler in a transaction with the inbox row (its outside work first, when it has some and
   * the message is new); false when it was handled before.
   */
  const handleInTx = async (
    a: Attached,
    handler: MessageHandler,
    envelope: Envelope,
    deliveryCount: number,
    sequence: number | null,
    then?: (tx: Transaction) => Promise<void>,
  ) => {
    const deadline = deadlineOf(handler)
    const acted =
      handler.act !== undefined && (await probe(a, handler, envelope, sequence, envelope.key ?? '')).fresh
    const outcome = acted ? await runAct(a, handler, envelope, deliveryCount, sequence, deadline) : undefined
    return a.db.transaction(async (tx) => {
      const inserted = await tx.query(inboxInsert, [
        consumerName(a.context, handler),
        [envelope.id],
        [sequence],
        [envelope.time],
      ])
      if (inserted.rowCount > 0 && handler.act !== undefined && !acted)
        throw notActed(consumerName(a.context, handler))
      if (inserted.rowCount > 0)
        await runHandler(a, handler, tx, envelope, deliveryCount, sequence, outcome, deadline)
      await then?.(tx)
      return inserted.rowCount > 0
    })
  }

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

  /** Acks a settled delivery; a lost ack only means a redelivery, which the inbox takes unhandled. */
  const ackQuietly = (consumer: string, g: Screened) =>
    g.delivery
      .ack()
      .catch((error: unknown) => log.warn({ err: error, consumer }, 'ack failed; it will be redelivered'))

  /**
   * Handles a group for a handler that acts after commit, one message after another: each new one's
   * outside work runs with no transaction open, then its outcome is recorded with the inbox row in a
   * short transaction; a failure is held for its retry (the key's later messages behind it) in another.
   * Resolves with whether a key is now held.
   */
  const handleActing = async (a: Attached, handler: MessageHandler, group: readonly Screened[]) => {
    const consumer = consumerName(a.context, handler)
    const held = new Set<string>()
    let duplicates = 0
    const one = async (g: Screened) => {
      const { envelope, delivery: d } = g
      const seen = held.has(d.key)
        ? { fresh: true, held: true }
        : await probe(a, handler, envelope, d.seq, d.key)
      if (seen.held) {
        await a.db.transaction((tx) => hold(tx, consumer, g, 0, 0, null))
        held.add(d.key)
      } else if (!seen.fresh) duplicates++
      else {
        try {
          const deadline = deadlineOf(handler)
          const outcome = await runAct(a, handler, envelope, d.deliveryCount, d.seq, deadline)
          const recorded = await a.db.transaction(async (tx) => {
            const inserted = await tx.query(inboxInsert, [consumer, [envelope.id], [d.seq], [envelope.time]])
            if (inserted.rowCount === 0) return false
            await runHandler(a, handler, tx, envelope, d.deliveryCount, d.seq, outcome, deadline)
            return true
          })
          // Another replica recorded it meanwhile (its outside work ran twice; its outcome once).
          if (!recorded) duplicates++
        } catch (error) {
          const nowHeld = await a.db.transaction((tx) => failed(a, handler, tx, g, d.deliveryCount, error))
          if (nowHeld) held.add(d.key)
        }
      }
      await ackQuietly(consumer, g)
    }
    // Keys in parallel (their outside work overlaps), each key's messages one after another.
    const byKey = new Map<string, Screened[]>()
    for (const g of group) byKey.set(g.delivery.key, [...(byKey.get(g.delivery.key) ?? []), g])
    await Promise.all(
      [...byKey.values()].map(async (messages) => {
        for (const g of messages) await one(g)
      }),
    )
    if (duplicates > 0) m.duplicates.inc({ consumer }, duplicates)
    return held.size > 0
  }

  /**
   * Handles a group of one consumer's messages (in order per key) in one transaction: their inbox rows
   * in one statement, then each new one under its own savepoint, so that a failing one rolls back alone
   * and the others run once. A failed message is held in `rxt_held` for its retry, and every later
   * message of a held key is held behind it: order per key survives retries whatever the transport
   * redelivers. Everything is acknowledged once the transaction commits.
   */
  const handleGroup = async (a: Attached, handler: MessageHandler, group: readonly Screened[]) => {
    if (handler.act !== undefined) return handleActing(a, handler, group)
    const consumer = consumerName(a.context, handler)
    const settled = await a.db
      .transaction(async (tx) => {
        const { rows } = await tx.query<{ key: string | null; message_id: string | null }>(groupInsert, [
          consumer,
          group.map((g) => g.envelope.id),
          group.map((g) => g.delivery.seq),
          group.map((g) => g.envelope.time),
          group.map((g) => g.delivery.key),
        ])
        const held = new Set<string>()
        const inserted = new Set<string>()
        for (const row of rows) {
          if (row.key !== null) held.add(row.key)
          else if (row.message_id !== null) inserted.add(row.message_id.toLowerCase())
        }
        /** Inbox rows of messages that were not handled after all (held, or dead-lettered). */
        const unhandled: string[] = []
        let duplicates = 0
        const savepoints = group.length > 1
        for (const g of group) {
          // Taken from the set: a second delivery of one message in the group (a redelivery that came
          // while the first was still queued here) is a duplicate, not a second handling.
          const fresh = inserted.delete(g.envelope.id.toLowerCase())
          if (held.has(g.delivery.key)) {
            if (fresh) unhandled.push(g.envelope.id)
            await hold(tx, consumer, g, 0, 0, null)
            continue
          }
          if (!fresh) {
            duplicates++
            continue
          }
          // Taken with the handler's first statement, none for a handler that sends none (not
          // released: a release is one more round trip, and the savepoints end with the transaction).
          const saved = savepoints ? lazySavepoint(tx) : undefined
          try {
            await runHandler(
              a,
              handler,
              saved?.tx ?? tx,
              g.envelope,
              g.delivery.deliveryCount,
              g.delivery.seq,
            )
          } catch (error) {
            // A lone message needs no savepoint: its transaction rolls back and the failure is recorded in
            // another.
            if (saved === undefined) throw new LoneFailure(error)
            // A handler that sent nothing has nothing to roll back.
            if (saved.taken()) await tx.query('ROLLBACK TO SAVEPOINT rxt_message')
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

  const screen = createScreening({ log, metrics: m, violationsOf })

  const { handleHeld, nextHeld } = createHeldHandling({
    log,
    metrics: m,
    maxDeliveries,
    backoff,
    inboxInsert,
    timeoutOf,
    deadlineOf,
    probe,
    runAct,
    runHandler,
    notActed,
  })

  return { screen, handleInTx, handleGroup, handleHeld, nextHeld }
}
export type Handling = ReturnType<typeof createHandling>
