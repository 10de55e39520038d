import { EventEmitter } from 'node:events'
import type { ContextDb, Database } from '../db/index.ts'
import { loadMigrations } from '../db/index.ts'
import { InputError } from '../errors.ts'
import { postgresLogBacklog } from './postgres-log-backlog.ts'
import type { ConsumerSpec, Delivery, OutboundMessage, Transport, TransportConsumer } from './transport.ts'

export interface PostgresLogOptions {
  readonly database: Database
  /**
   * How soon an idle consumer first looks again for work no event of this process announced (written
   * by another process, or a lease run out); 100 ms.
   */
  readonly pollMs?: number
  /**
   * The longest it waits between looks while idle: each empty look doubles the wait up to it; 1 s, or
   * 5 s when `exclusive` (nothing but this process appends).
   */
  readonly idlePollMs?: number
  /**
   * No other process uses this log (PGlite: one process opens its data directory): the leases found
   * at open are an earlier run's, ended without settling them, and are released at once rather than
   * waited out (ack wait). Never with a database other processes share.
   */
  readonly exclusive?: boolean
}

interface ClaimedRow extends Record<string, unknown> {
  seq: string
  key: string
  deliveries: number
  subject: string
  body: string
}

/**
 * The most deliveries a consumer owes at once: a backlog waits in the log (read by sequence), not in
 * `pending`, whose claim query looks at every row of a held key.
 */
const pendingCap = 2048

/**
 * The embedded mode's transport: an append-only log table in the `bus` schema, a cursor per durable
 * consumer and a table of the deliveries it still owes. Durable across restarts; replicas of one
 * consumer claim under one lock per consumer, and a message is not claimed while an earlier message
 * with its key is leased or waiting for a retry, so one key is never handled out of order or twice at
 * the same time. Appends are serialised so that sequence order is commit order.
 */
/** The log's own tables, in the `bus` schema. */
export const logMigrations = () => loadMigrations(new URL('./migrations/log/', import.meta.url))

export async function createPostgresLog(options: PostgresLogOptions): Promise<Transport> {
  const db = await options.database.openContext('bus', await logMigrations())
  if (options.exclusive === true) {
    // A delivery leased when its process died goes out again now; `deliveries` keeps its count.
    await db.query('UPDATE pending SET lease_until = NULL WHERE lease_until IS NOT NULL')
  }
  const pollMs = options.pollMs ?? 100
  // Alone on its database, this process hears of every append: an idle consumer looks only for a lease
  // run out (a delivery in hand when its handler's process died is released at open).
  const idlePollMs = Math.max(pollMs, options.idlePollMs ?? (options.exclusive === true ? 5_000 : 1_000))
  const appended = new EventEmitter()
  appended.setMaxListeners(0)
  let closed = false

  return {
    kind: 'postgres-log',
    backlog: postgresLogBacklog(db),
    async publish(messages) {
      if (messages.length === 0) return
      // Under the append lock, in one statement (migration 0002).
      await db.query(
        'SELECT append($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])',
        columns(messages),
      )
      // Only the consumers of what was appended look now: each wake-up is a query, and on PGlite every
      // context's queries share one connection.
      appended.emit('appended', { types: new Set(messages.map((m) => m.type)) } satisfies Wake)
    },
    async consumer(spec) {
      await ensureConsumer(db, spec)
      return logConsumer(db, spec, { pollMs, idlePollMs }, appended, () => closed)
    },
    async replay(spec, from) {
      await ensureConsumer(db, spec)
      await db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`rxt:bus:claim:${spec.name}`])
        if ('seq' in from) {
          const { rows } = await tx.query<{ last: string }>('SELECT coalesce(max(seq), 0) AS last FROM log')
          const last = Number(rows[0]?.last ?? 0)
          if (from.seq > last + 1) {
            throw new InputError(`the log ends at sequence ${last}; a replay cannot start at ${from.seq}`, [
              { path: '/fromSeq', message: `at most ${last + 1}` },
            ])
          }
        }
        const requested =
          'seq' in from
            ? Math.max(0, from.seq - 1)
            : await tx
                .query<{ cursor: string }>(
                  `SELECT coalesce((SELECT min(seq) - 1 FROM log WHERE time >= $1),
                                   (SELECT coalesce(max(seq), 0) FROM log)) AS cursor`,
                  [from.time],
                )
                .then((r) => Number(r.rows[0]?.cursor ?? 0))
        // Never forward: a consumer behind the point keeps its position, so that what lies between
        // (not yet fanned out, or owed) is still delivered.
        const { rows: at } = await tx.query<{ position: string }>(
          `SELECT least(c.cursor, (SELECT min(seq) - 1 FROM pending WHERE consumer = $1)) AS position
             FROM consumers c WHERE c.name = $1`,
          [spec.name],
        )
        const cursor = Math.min(requested, Number(at[0]?.position ?? requested))
        await tx.query('UPDATE consumers SET cursor = $2 WHERE name = $1', [spec.name, cursor])
      })
      appended.emit('appended')
    },
    async lag(spec) {
      const { rows } = await db.query<{ lag: string }>(
        `SELECT (SELECT count(*) FROM pending WHERE consumer = $1)
              + (SELECT count(*) FROM log l, consumers c
                  WHERE c.name = $1 AND l.seq > c.cursor AND l.subject = ANY(c.subjects)) AS lag`,
        [spec.name],
      )
      return Number(rows[0]?.lag ?? 0)
    },
    async prune(olderThan) {
      // Only what every consumer has fanned out and settled: below every cursor, owed to nobody.
      const { rowCount } = await db.query(
        `DELETE FROM log l
          WHERE l.appended_at < $1
            AND l.seq <= (SELECT coalesce(min(cursor), 0) FROM consumers)
            AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.seq = l.seq)`,
        [olderThan],
      )
      return rowCount
    },
    async ping() {
      await db.query('SELECT 1')
    },
    async close() {
      closed = true
      appended.emit('appended')
    },
  }
}

const columns = (messages: readonly OutboundMessage[]) => [
  messages.map((m) => m.id),
  messages.map((m) => m.type),
  messages.map((m) => m.key),
  messages.map((m) => m.time.toISOString()),
  messages.map((m) => m.body),
]

/**
 * Creates the consumer at the beginning of what the log retains, or updates the types it takes: a
 * consumer that starts after messages were published still gets them.
 */
async function ensureConsumer(db: ContextDb, spec: ConsumerSpec): Promise<void> {
  await db.query(
    `INSERT INTO consumers (name, subjects, cursor)
     VALUES ($1, $2, (SELECT coalesce(min(seq) - 1, 0) FROM log))
     ON CONFLICT (name) DO UPDATE SET subjects = EXCLUDED.subjects`,
    [spec.name, [...spec.types].sort()],
  )
}

function logConsumer(
  db: ContextDb,
  spec: ConsumerSpec,
  { pollMs, idlePollMs }: { pollMs: number; idlePollMs: number },
  appended: EventEmitter,
  transportClosed: () => boolean,
): TransportConsumer {
  let closed = false
  const done = () => closed || transportClosed()
  let idleMs = pollMs
  // When its last look found nothing (undefined: it found something, or it has not looked yet), and
  // whether this process announced anything for it since: an idle consumer does not look again until
  // it is told of something or its idle wait has passed, however often it is asked to fetch.
  let emptyAt: number | undefined
  let heard = false
  const listen = (what?: Wake) => {
    if (concerns(spec, what)) heard = true
  }
  appended.on('appended', listen)

  // Acks of one turn of the event loop go out in one statement.
  let acks: string[] = []
  let flushing: Promise<void> | undefined
  const flushAcks = async () => {
    await Promise.resolve()
    const seqs = acks
    acks = []
    flushing = undefined
    await db.query('DELETE FROM pending WHERE consumer = $1 AND seq = ANY($2::bigint[])', [spec.name, seqs])
    // Settling frees the keys: their next messages may be claimed now, not at the next poll (by this
    // consumer: another consumer's keys are its own).
    appended.emit('appended', { consumer: spec.name } satisfies Wake)
  }

  // Lease extensions of one turn of the event loop go out in one statement too.
  let leases: string[] = []
  let extending = false
  const extendLeases = async () => {
    await Promise.resolve()
    const seqs = leases
    leases = []
    extending = false
    await db.query(
      `UPDATE pending SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE consumer = $1 AND seq = ANY($2::bigint[]) AND lease_until IS NOT NULL`,
      [spec.name, seqs, spec.ackWaitMs],
    )
  }

  // Fan-out and claim under the consumer's claim lock, in one statement (migration 0002).
  const claim = (max: number) =>
    db
      .query<ClaimedRow>('SELECT seq, key, deliveries, subject, body FROM claim($1, $2, $3, $4)', [
        spec.name,
        max,
        spec.ackWaitMs,
        pendingCap,
      ])
      .then(({ rows }) => {
        return rows
          .sort((a, b) => Number(a.seq) - Number(b.seq))
          .map(
            (row): Delivery => ({
              type: row.subject,
              key: row.key,
              body: row.body,
              seq: Number(row.seq),
              deliveryCount: row.deliveries,
              ack: () => {
                acks.push(row.seq)
                flushing ??= flushAcks()
                return flushing
              },
              working: () => {
                leases.push(row.seq)
                if (!extending) {
                  extending = true
                  void extendLeases().catch(() => undefined)
                }
              },
              retry: async (delayMs) => {
                await db.query(
                  `UPDATE pending SET lease_until = NULL, not_before = now() + make_interval(secs => $3::double precision / 1000)
                  WHERE consumer = $1 AND seq = $2`,
                  [spec.name, row.seq, delayMs],
                )
                appended.emit('appended')
                // Due later: this process looks for it then, not at an idle consumer's next look.
                setTimeout(() => appended.emit('appended'), delayMs + 5).unref()
              },
            }),
          )
      })

  return {
    async fetch(max, waitMs) {
      const deadline = Date.now() + waitMs
      for (;;) {
        if (done()) return []
        // What this process appends, settles or retries wakes it at once; what it cannot hear of
        // (another process's appends, a lease run out) is looked for ever less often while idle.
        let woken = heard
        if (!heard && emptyAt !== undefined && Date.now() < emptyAt + idleMs) {
          woken = await wake(appended, Math.min(emptyAt + idleMs, deadline) - Date.now(), spec)
          if (!woken && Date.now() < emptyAt + idleMs) return []
          if (done()) return []
        }
        heard = false
        const deliveries = await claim(max)
        if (deliveries.length > 0) {
          idleMs = pollMs
          emptyAt = undefined
          return deliveries
        }
        idleMs = woken || emptyAt === undefined ? pollMs : Math.min(idleMs * 2, idlePollMs)
        emptyAt = Date.now()
        if (Date.now() >= deadline) return deliveries
      }
    },
    async close() {
      closed = true
      appended.off('appended', listen)
      appended.emit('appended')
      await flushing
    },
  }
}

/** What woke the consumers: appends of some types, or one consumer's settled keys; absent: anything. */
interface Wake {
  readonly types?: ReadonlySet<string>
  readonly consumer?: string
}

/** Whether a wake-up concerns a consumer: one that names no types and no consumer concerns every one. */
const concerns = (spec: ConsumerSpec, what: Wake | undefined) => {
  if (what === undefined || (what.types === undefined && what.consumer === undefined)) return true
  if (what.consumer !== undefined) return what.consumer === spec.name
  return spec.types.some((type) => what.types?.has(type) === true)
}

/**
 * Resolves on the next append in this process that concerns the consumer (true), or after `ms`
 * (false). A wake-up that names no types and no consumer concerns every consumer.
 */
async function wake(appended: EventEmitter, ms: number, spec: ConsumerSpec): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const listener = (what?: Wake) => {
      if (!concerns(spec, what)) return
      clearTimeout(timer)
      appended.off('appended', listener)
      resolve(true)
    }
    const timer = setTimeout(
      () => {
        appended.off('appended', listener)
        resolve(false)
      },
      Math.max(0, ms),
    )
    appended.on('appended', listener)
  })
}
