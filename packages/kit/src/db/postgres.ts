import pg from 'pg'
import type { Logger } from '../log.ts'
import type { Driver, QueryResult, RoleRunner, Row, Session } from './types.ts'

export interface PostgresOptions {
  readonly url: string
  /** Most connections per context pool. */
  readonly poolMax: number
  readonly log: Logger
}

/** The socket under a client: corked, the statements written in between leave in one write. */
const streamOf = (client: pg.PoolClient) =>
  (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream

/**
 * A checked-out connection. BEGIN waits for the transaction's first statement and goes out with it
 * (the pool's connections pipeline): one write and one round trip for both.
 */
function sessionOf(client: pg.PoolClient): Session {
  let beginHeld = false
  const send = async (text: string, params?: readonly unknown[]) => {
    if (!beginHeld) return client.query(text, params as unknown[] | undefined)
    beginHeld = false
    const stream = streamOf(client)
    stream.cork()
    const begun = client.query('BEGIN')
    const result = client.query(text, params as unknown[] | undefined)
    stream.uncork()
    // Both settle before this returns; a failed BEGIN wins (the statement then ran outside a
    // transaction only on a connection that is failing, which is not given back to the pool).
    const [b, r] = await Promise.allSettled([begun, result])
    if (b.status === 'rejected') throw b.reason
    if (r.status === 'rejected') throw r.reason
    return r.value
  }
  const end = async (sql: 'COMMIT' | 'ROLLBACK') => {
    if (beginHeld) beginHeld = false
    else await client.query(sql)
  }
  return {
    query: async <R extends Row>(text: string, params?: readonly unknown[]) => {
      const result = await send(text, params)
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 }
    },
    exec: async (sql: string) => {
      await send(sql)
    },
    begin: async () => {
      if (beginHeld) throw new Error('a transaction is already open on this connection')
      beginHeld = true
    },
    commit: () => end('COMMIT'),
    rollback: () => end('ROLLBACK'),
  }
}

function createPool(url: string, max: number, log: Logger, options?: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    // Statements written before the previous one is answered; see sessionOf.
    pipeline: true,
    ...(options === undefined ? {} : { options }),
  })
  // An idle connection that breaks must not crash the process; the next checkout reconnects.
  pool.on('error', (error) =>
    log.warn({ err: { message: error.message } }, 'idle database connection failed'),
  )
  return pool
}

async function runOn<T>(pool: pg.Pool, fn: (session: Session) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    return await fn(sessionOf(client))
  } catch (error) {
    // A connection whose transaction state is unknown is not given back to the pool.
    if (isConnectionError(error)) broken = error as Error
    throw error
  } finally {
    client.release(broken)
  }
}

const isConnectionError = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string')
    return code.startsWith('08') || code.startsWith('57P') || /^E[A-Z]+$/.test(code)
  return error instanceof Error && /Connection terminated/i.test(error.message)
}

/**
 * PostgreSQL through `pg` pools: one small administrative pool, and one pool per context whose
 * connections start as the context's role (`-c role=…`) with its schema on the search path.
 */
export function createPostgresDriver(options: PostgresOptions): Driver {
  const adminPool = createPool(options.url, 2, options.log)
  const pools = new Set<pg.Pool>([adminPool])
  return {
    kind: 'postgres',
    admin: (fn) => runOn(adminPool, fn),
    forRole(role, schema): RoleRunner {
      const pool = createPool(
        options.url,
        options.poolMax,
        options.log,
        `-c role=${role} -c search_path=${schema}`,
      )
      pools.add(pool)
      return {
        run: (fn) => runOn(pool, fn),
        query: async <R extends Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
          const result = await pool.query(text, params as unknown[] | undefined)
          return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 }
        },
        close: async () => {
          pools.delete(pool)
          await pool.end()
        },
      }
    },
    close: async () => {
      await Promise.all([...pools].map((pool) => pool.end()))
      pools.clear()
    },
  }
}
