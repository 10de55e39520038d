import { createHash } from 'node:crypto'
import { canonical } from '@rxt/contracts/manifest'
import type { Clock, Queryable } from '@rxt/kit'
import type { TSchema } from 'typebox'
import { checkRequest } from './check-request.ts'
import { FailureCode, failed, failure, type Outcome } from './compute-platform.ts'

/**
 * An adapter's answers by idempotency key (ADR 0011), in its context's table `calls` (each adapter's
 * migrations make it: key, operation, request_digest, outcome, at): a success is the key's answer for good; the
 * same key for another request is a conflict; a failure is not remembered. The work itself runs
 * outside any transaction (it talks to the cluster), serialised per environment in this process;
 * across processes server-side apply converges and the first recorded answer wins.
 */
export function createLedger(clock: Clock) {
  const queues = new Map<string, Promise<unknown>>()
  /** Runs `work` after whatever this process is already doing for `lane`. */
  const serial = <T>(lane: string, work: () => Promise<T>): Promise<T> => {
    const before = queues.get(lane) ?? Promise.resolve()
    const run = before.then(work, work)
    const tail = run.catch(() => undefined)
    queues.set(lane, tail)
    void tail.then(() => {
      if (queues.get(lane) === tail) queues.delete(lane)
    })
    return run
  }
  const digestOf = (request: unknown) => createHash('sha256').update(canonical(request)).digest('hex')

  const prior = async <T>(db: Queryable, key: string) =>
    (
      await db.query<{ operation: string; request_digest: string; outcome: Outcome<T> }>(
        'SELECT operation, request_digest, outcome FROM calls WHERE key = $1',
        [key],
      )
    ).rows[0]
  const conflict = (key: string, operation: string) =>
    failed<never>(failure(FailureCode.conflict, `key ${key} was used for another request (${operation})`))

  return {
    serial,
    /** A call once per key: checked, run in its environment's lane, its success recorded. */
    async once<T>(
      db: Queryable,
      operation: string,
      schema: TSchema,
      request: { key: string; envId: string },
      work: () => Promise<Outcome<T>>,
    ): Promise<Outcome<T>> {
      const invalid = checkRequest(schema, request)
      if (invalid !== undefined) return failed(invalid)
      const digest = digestOf(request)
      const answer = (recorded: { operation: string; request_digest: string; outcome: Outcome<T> }) =>
        recorded.operation === operation && recorded.request_digest === digest
          ? recorded.outcome
          : conflict(request.key, recorded.operation)
      // The lane covers the work only: recording may wait on another transaction (a duplicate
      // delivery's), which must not hold up this environment's other calls meanwhile.
      const done = await serial(
        request.envId,
        async (): Promise<{ answered: boolean; outcome: Outcome<T> }> => {
          const before = await prior<T>(db, request.key)
          if (before !== undefined) return { answered: true, outcome: answer(before) }
          return { answered: false, outcome: await work() }
        },
      )
      if (done.answered) return done.outcome
      const { outcome } = done
      if (!outcome.ok) {
        // Another process may have answered the key meanwhile: its answer is the key's.
        const recorded = await prior<T>(db, request.key)
        return recorded === undefined ? outcome : answer(recorded)
      }
      await db.query(
        `INSERT INTO calls (key, operation, request_digest, outcome, at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (key) DO NOTHING`,
        [request.key, operation, digest, JSON.stringify(outcome), clock.now()],
      )
      const recorded = await prior<T>(db, request.key)
      return recorded === undefined ? outcome : answer(recorded)
    },
    /** Forgets answers older than `olderThan`: their keys may run again. */
    async forget(db: Queryable, olderThan: Date): Promise<number> {
      return (await db.query('DELETE FROM calls WHERE at < $1', [olderThan])).rowCount ?? 0
    },
  }
}
export type Ledger = ReturnType<typeof createLedger>
