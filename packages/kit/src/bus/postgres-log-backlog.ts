import type { ContextDb } from '../db/index.ts'
import type { ConsumerBacklog, ConsumerSpec } from './transport.ts'

/**
 * The Postgres log's `backlog`: what a consumer owes (its `pending` rows and the log rows of its
 * subjects past its cursor, as `lag` counts them) and when the oldest of them was appended. `db` is the
 * log's own schema (`bus`).
 */
export const postgresLogBacklog =
  (db: ContextDb) =>
  async (spec: ConsumerSpec): Promise<ConsumerBacklog> => {
    const { rows } = await db.query<{ messages: string; oldest: Date | string | null }>(
      `SELECT (SELECT count(*) FROM pending WHERE consumer = $1)
            + (SELECT count(*) FROM log l, consumers c
                WHERE c.name = $1 AND l.seq > c.cursor AND l.subject = ANY(c.subjects)) AS messages,
              least((SELECT l.appended_at FROM pending p JOIN log l ON l.seq = p.seq
                      WHERE p.consumer = $1 ORDER BY p.seq LIMIT 1),
                    (SELECT l.appended_at FROM log l, consumers c
                      WHERE c.name = $1 AND l.seq > c.cursor AND l.subject = ANY(c.subjects)
                      ORDER BY l.seq LIMIT 1)) AS oldest`,
      [spec.name],
    )
    const row = rows[0]
    return {
      messages: Number(row?.messages ?? 0),
      oldestAt: row?.oldest === null || row?.oldest === undefined ? undefined : new Date(row.oldest),
    }
  }
