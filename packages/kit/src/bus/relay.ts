import { randomUUID } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ContextDb } from '../db/index.ts'
import type { Logger } from '../log.ts'
import type { Transport } from './transport.ts'

export interface Relay {
  /**
   * Wakes the relay: something committed to the outbox (due at `dueAt`, for a delayed message: the
   * relay looks again then).
   */
  kick(dueAt?: number): void
  start(): void
  /** Stops after a last turn, so that what committed before the stop goes out. */
  stop(): Promise<void>
}

export interface RelayOptions {
  readonly context: string
  readonly db: ContextDb
  readonly transport: Transport
  readonly log: Logger
  /** Outbox rows one turn publishes. */
  readonly batch: number
  /** How often it looks at the outbox when nothing in this process woke it. */
  readonly pollMs: number
  /**
   * The longest it waits while idle: each turn that finds nothing doubles its wait from `pollMs` up to
   * this (default `pollMs`: no backoff). Only where nothing but this process writes the outbox (PGlite):
   * a replica's rows would otherwise wait that long for the replica that holds the lease.
   */
  readonly idlePollMs?: number
  /** Called with the types of the messages each turn handed to the transport. */
  readonly onPublished: (types: readonly string[]) => void
}

/**
 * The relay of one context's outbox: sends committed rows to the transport in order, then deletes
 * exactly the rows it sent. One replica relays at a time (a lease row, `rxt_relay`); a relay that dies
 * between sending and deleting sends the batch again, and the transport drops what it already has.
 */
export function createRelay(options: RelayOptions): Relay {
  const { context, db, transport, log, batch, pollMs } = options
  const owner = randomUUID()
  const wake = new EventEmitter()
  let stopping = false
  let loop: Promise<void> | undefined
  const idlePollMs = Math.max(pollMs, options.idlePollMs ?? pollMs)
  const leaseMs = Math.max(5_000, pollMs * 20, idlePollMs * 3)
  /** Turns in a row that found nothing, and when the delayed messages this process wrote come due. */
  let idleTurns = 0
  let kicked = false
  const dues: number[] = []
  let leaseUntil = 0

  /**
   * Rows handed to the transport and not yet deleted: deleted by the next turn's statement, which
   * reads the next batch too (one statement a turn under load instead of two). A turn that published
   * is followed at once by the next, so that they do not wait in the outbox for a wake-up.
   */
  let sentRows: { readonly seqs: readonly string[]; readonly types: readonly string[] } | undefined

  /**
   * Deletes what the last turn sent, then publishes up to `limit` due rows when this replica holds
   * the relay lease; the number of messages it handed to the transport.
   */
  const turn = async (limit: number): Promise<number> => {
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
        // What it sent stays for the owner; this replica waits to be woken, as an idle one does.
        if (sentRows !== undefined) lostLease(sentRows.seqs.length)
        sentRows = undefined
        return 0
      }
      leaseUntil = renewedAt + leaseMs
    }
    const sent = sentRows
    sentRows = undefined
    const { rows } = await db.query<{
      deleted: string
      leased: string
      seq: string | null
      id: string
      type: string
      key: string
      body: string
      created_at: Date | string
    }>(
      // Exactly the rows sent (a transaction that took a lower seq may commit after their SELECT), and
      // only while this replica still holds the lease: a publish may outlast it, and the replica that
      // took it over sends these rows again (the transport drops what it has), in order with what
      // comes after. Then the due rows in order (the statement still sees the rows it deletes: they are
      // left out): the undelayed ones by the partial index on seq, the delayed ones come due by theirs
      // (many timers waiting in the outbox are not scanned on every turn).
      `WITH lease AS (SELECT count(*) AS held FROM rxt_relay WHERE owner = $2 AND lease_until > now()),
            sent AS (DELETE FROM rxt_outbox WHERE seq = ANY($3::bigint[]) AND (SELECT held FROM lease) > 0
                     RETURNING 1)
       SELECT (SELECT count(*) FROM sent) AS deleted, (SELECT held FROM lease) AS leased, due.*
         FROM (SELECT 1) AS one
         LEFT JOIN (SELECT * FROM (
           (SELECT seq, id, type, key, body, created_at FROM rxt_outbox
             WHERE not_before IS NULL AND seq <> ALL($3::bigint[]) ORDER BY seq LIMIT $1)
           UNION ALL
           (SELECT seq, id, type, key, body, created_at FROM rxt_outbox
             WHERE not_before <= now() AND seq <> ALL($3::bigint[]) ORDER BY seq LIMIT $1)
         ) d ORDER BY seq LIMIT $1) AS due ON true
        ORDER BY due.seq`,
      [limit, owner, sent?.seqs ?? []],
    )
    const head = rows[0]
    if (head === undefined || Number(head.leased) === 0) {
      leaseUntil = 0
      if (sent !== undefined) lostLease(sent.seqs.length)
      return 0
    }
    if (sent !== undefined) options.onPublished(sent.types)
    const due = rows.filter((r) => r.seq !== null)
    if (due.length === 0) return 0
    await transport.publish(
      due.map((r) => ({ id: r.id, type: r.type, key: r.key, body: r.body, time: new Date(r.created_at) })),
    )
    sentRows = { seqs: due.map((r) => r.seq as string), types: due.map((r) => r.type) }
    return due.length
  }

  const lostLease = (messages: number) =>
    log.warn({ context, messages }, 'relay lost its lease during a publish; its rows stay for the next owner')

  const run = async () => {
    while (!stopping) {
      const startedAt = Date.now()
      // A kick while the turn runs is not missed: the wait below is skipped.
      kicked = false
      try {
        await turn(batch)
      } catch (error) {
        log.error({ err: error, context }, 'relay turn failed; retrying')
        await sleep(1000)
      }
      // A turn that sent something is followed at once (it deletes what was sent, and takes what
      // committed meanwhile); otherwise the relay waits to be woken, or until the next delayed message
      // it knows of comes due, or its idle wait has passed.
      if (sentRows !== undefined) idleTurns = 0
      else if (!stopping) {
        for (let i = dues.length - 1; i >= 0; i--) if ((dues[i] as number) <= startedAt) dues.splice(i, 1)
        const soonest = dues.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...dues) - Date.now() + 5
        const idle = Math.min(idlePollMs, pollMs * 2 ** Math.min(idleTurns, 16))
        idleTurns++
        if (!kicked) {
          const controller = new AbortController()
          const { signal } = controller
          await Promise.race([
            once(wake, 'kick', { signal }).catch(() => undefined),
            sleep(Math.max(5, Math.min(idle, soonest)), undefined, { signal }).catch(() => undefined),
          ])
          controller.abort()
        }
      }
    }
    // A last turn: what committed before the stop goes out now, and what it sent is deleted.
    try {
      await turn(batch)
      if (sentRows !== undefined) await turn(0)
    } catch (error) {
      log.error({ err: error, context }, 'final relay turn failed')
    }
    sentRows = undefined
    await db
      .query('DELETE FROM rxt_relay WHERE owner = $1', [owner])
      .catch((error: unknown) => log.warn({ err: error, context }, 'relay lease not released'))
  }

  return {
    kick: (dueAt) => {
      kicked = true
      if (dueAt === undefined) idleTurns = 0
      else if (dues.length < 1_024) dues.push(dueAt)
      else {
        // Full: the soonest are what matter; a later one is looked for by the idle poll.
        const latest = dues.indexOf(Math.max(...dues))
        if (dueAt < (dues[latest] as number)) dues[latest] = dueAt
      }
      wake.emit('kick')
    },
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
