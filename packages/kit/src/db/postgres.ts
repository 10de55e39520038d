import pg from 'pg'
import type { Logger } from '../log.ts'
import type { Driver, QueryResult, RoleRunner, Row, Session } from './types.ts'

export interface PostgresOptions {
  readonly url: string
  /** Most connections per context pool. */
  readonly poolMax: number
  readonly log: Logger
}

function sessionOf(client: pg.PoolClient): Session {
  return {
    query: async <R extends Row>(text: string, params?: readonly unknown[]) => {
      const result = await client.query(text, params as unknown[] | undefined)
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 }
    },
    exec: async (sql: string) => {
      await client.query(sql)
    },
  }
}

function createPool(url: string, max: number, log: Logger, options?: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
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
