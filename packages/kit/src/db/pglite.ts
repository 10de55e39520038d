import { PGlite } from '@electric-sql/pglite'
import type { Driver, QueryResult, RoleRunner, Row, Session } from './types.ts'

/** The embedded database's buffer pool. */
const sharedBuffers = '32MB'

export interface PGliteOptions {
  /** Directory of the database files; in memory when not given (tests). */
  readonly dataDir?: string
}

/**
 * Runs one task at a time, in order of arrival. PGlite runs a statement on this thread, and a task
 * that follows another resolves as a microtask: a queue that never empties (a start, a burst of
 * consumers) would keep the event loop from its sockets. So once tasks have run for `sliceMs` on end,
 * the next waits for the loop's next turn, and the server answers its requests in between.
 */
function createSerialQueue(sliceMs = 5) {
  let tail: Promise<unknown> = Promise.resolve()
  // A slice: tasks run since the event loop last turned. It begins with the first task after a turn,
  // whether the tasks come from many callers at once or from one that awaits each before the next.
  let since = 0
  let inSlice = false
  const begin = () => {
    if (inSlice) return
    inSlice = true
    since = performance.now()
    setImmediate(() => {
      inSlice = false
    })
  }
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
  return <T>(task: () => Promise<T>): Promise<T> => {
    const result = tail.then(async () => {
      begin()
      if (performance.now() - since > sliceMs) {
        await turn()
        begin()
      }
      return task()
    })
    tail = result.catch(() => undefined)
    return result
  }
}

/**
 * PGlite (PostgreSQL compiled to WASM, in process). It has a single connection, so every session
 * waits its turn: transactions are serialised, and a session switches the connection to its role
 * and search path before it runs.
 */
export async function createPGliteDriver(options: PGliteOptions): Promise<Driver> {
  const db = await PGlite.create({
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    // PostgreSQL's default buffer pool (128 MB) is allocated and cleared in WASM memory at every open:
    // ~0.1 s of a start. An embedded control plane's working set is a fraction of it, and the file
    // system's cache sits below.
    startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffers}`],
  })
  const serial = createSerialQueue()
  let current = '' // the role/search_path the connection is switched to
  let closed = false

  const session: Session = {
    query: async <R extends Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
      const result = await db.query<R>(text, params as unknown[] | undefined)
      // PGlite counts only written rows (0 for a SELECT); pg counts what a statement returned or wrote.
      return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) }
    },
    exec: async (sql: string) => {
      await db.exec(sql)
    },
    begin: async () => {
      await db.exec('BEGIN')
    },
    commit: async () => {
      await db.exec('COMMIT')
    },
    rollback: async () => {
      await db.exec('ROLLBACK')
    },
  }

  const switchTo = async (role: string, schema: string): Promise<void> => {
    const key = `${role}/${schema}`
    if (current === key) return
    current = ''
    if (role === '') await db.exec('RESET ROLE; RESET search_path')
    else await db.exec(`SET ROLE "${role}"; SET search_path = "${schema}"`)
    current = key
  }

  const runAs = <T>(role: string, schema: string, fn: (session: Session) => Promise<T>): Promise<T> =>
    serial(async () => {
      if (closed) throw new Error('the database is closed')
      await switchTo(role, schema)
      return fn(session)
    })

  return {
    kind: 'pglite',
    admin: (fn) => runAs('', '', fn),
    forRole(role, schema): RoleRunner {
      return {
        run: (fn) => runAs(role, schema, fn),
        query: (text, params) => runAs(role, schema, (s) => s.query(text, params)),
        close: async () => undefined,
      }
    },
    close: () =>
      serial(async () => {
        if (closed) return
        closed = true
        await db.close()
      }),
  }
}
