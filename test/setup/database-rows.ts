// What every context has written, read from outside the contexts: a suite adds `databaseReader()`'s
// context to the runtime and reads every table of every schema of the database (each context's own, the
// bus's). The reader's own role may read nothing but its schema; it reads as the database's
// administrative user for the length of one transaction (SET LOCAL ROLE NONE), which PostgreSQL ends
// with the transaction, so nothing else ever runs with it.
import { type ContextDb, type ContextDefinition, defineContext } from '@rxt/kit'

/** `schema.table` → a digest of its rows, or the rows themselves (JSON text, in order). */
export type Digests = ReadonlyMap<string, string>
export type Rows = ReadonlyMap<string, readonly string[]>

/**
 * What a reading leaves out, each with its reason where it is declared: whole tables, columns of the
 * tables that match, and rows of the tables that match (an SQL condition on the row `t` that keeps a row).
 * Tables are matched by a pattern of `schema.table`.
 */
export interface Leave {
  readonly tables?: readonly RegExp[]
  readonly columns?: readonly { readonly table: RegExp; readonly columns: readonly string[] }[]
  readonly rowsKept?: readonly { readonly table: RegExp; readonly where: string }[]
}

export interface DatabaseReader {
  /** The context to add to the runtime's contexts. */
  readonly context: ContextDefinition
  /**
   * A digest of every table's row versions (but the reader's own, and what `leave` leaves out): it changes
   * with every write, costs no row's text, and is cheap to compare. A write that put back what was there
   * changes it too: `contents` tells.
   */
  digests(leave?: Leave): Promise<Digests>
  /** A digest of the contents of every table (or of the given ones): what is there, however it was written. */
  contents(leave?: Leave, tables?: readonly string[]): Promise<Digests>
  /** The rows of the given tables, as `digests` reads them. */
  rows(tables: readonly string[], leave?: Leave): Promise<Rows>
  /** Every value of every text, jsonb or bytea (as hex) column of every table: what a secret or its hash could be stored as. */
  values(): Promise<readonly { table: string; column: string; value: string }[]>
  /**
   * How many sagas of every context are still running or compensating: work that goes on with nothing
   * written for a while (a retry's backoff, a timer's poll), which a quiet database does not show.
   */
  sagasInFlight(): Promise<number>
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

export function databaseReader(name = 'dbreader'): DatabaseReader {
  let db: ContextDb | undefined
  const context = defineContext({
    name,
    start: (deps) => {
      db = deps.db
    },
  })
  const asAdmin = async <T>(fn: (query: ContextDb['query']) => Promise<T>): Promise<T> => {
    if (db === undefined) throw new Error(`the ${name} context has not started: add it to the runtime`)
    return db.transaction(async (tx) => {
      await tx.query('SET LOCAL ROLE NONE')
      return fn((text, params) => tx.query(text, params))
    })
  }
  let tableList: string[] | undefined
  /** The tables, listed once: the suites that read them add none while they run. */
  const tables = async (query: ContextDb['query']) => {
    tableList ??= (
      await query<{ key: string }>(
        `SELECT table_schema || '.' || table_name AS key FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema', $1)
          ORDER BY 1`,
        [name],
      )
    ).rows.map((row) => row.key)
    return tableList
  }
  /** One SELECT of a table's rows as JSON text, what `leave` leaves out removed. */
  const rowsOf = (key: string, leave: Leave) => {
    const [schema = '', table = ''] = key.split('.')
    const dropped = (leave.columns ?? [])
      .filter((c) => c.table.test(key))
      .flatMap((c) => c.columns)
      .map((column) => ` - ${literal(column)}`)
      .join('')
    const kept = (leave.rowsKept ?? []).filter((r) => r.table.test(key)).map((r) => `(${r.where})`)
    return `SELECT (to_jsonb(t)${dropped})::text AS r FROM ${ident(schema)}.${ident(table)} t${kept.length === 0 ? '' : ` WHERE ${kept.join(' AND ')}`}`
  }
  const contentOf = (key: string, leave: Leave) =>
    `SELECT ${literal(key)} AS key, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS digest FROM (${rowsOf(key, leave)}) s`
  const chosen = async (query: ContextDb['query'], leave: Leave) =>
    (await tables(query)).filter((key) => !(leave.tables ?? []).some((pattern) => pattern.test(key)))
  return {
    context,
    digests: (leave = {}) =>
      asAdmin(async (query) => {
        const keys = await chosen(query, leave)
        if (keys.length === 0) return new Map()
        const selects = keys.map((key) => {
          const [schema = '', table = ''] = key.split('.')
          // Every insert and update makes a row version with a newer xmin, every delete lowers the count.
          // A table some of whose columns are left out is read in full, those columns taken out, since an
          // update of them alone makes a new version too.
          if ((leave.columns ?? []).some((c) => c.table.test(key))) return contentOf(key, leave)
          const kept = (leave.rowsKept ?? []).filter((r) => r.table.test(key)).map((r) => `(${r.where})`)
          return `SELECT ${literal(key)} AS key, count(*) || ':' || coalesce(max(t.xmin::text::bigint), 0) AS digest
                    FROM ${ident(schema)}.${ident(table)} t${kept.length === 0 ? '' : ` WHERE ${kept.join(' AND ')}`}`
        })
        const result = await query<{ key: string; digest: string }>(selects.join('\nUNION ALL\n'))
        return new Map(result.rows.map((row) => [row.key, row.digest]))
      }),
    contents: (leave = {}, only) =>
      asAdmin(async (query) => {
        const keys = (await chosen(query, leave)).filter((key) => only === undefined || only.includes(key))
        if (keys.length === 0) return new Map()
        const result = await query<{ key: string; digest: string }>(
          keys.map((key) => contentOf(key, leave)).join('\nUNION ALL\n'),
        )
        return new Map(result.rows.map((row) => [row.key, row.digest]))
      }),
    rows: (wanted, leave = {}) =>
      asAdmin(async (query) => {
        const keys = (await chosen(query, leave)).filter((key) => wanted.includes(key))
        const out = new Map<string, string[]>()
        for (const key of keys) {
          const result = await query<{ r: string }>(`${rowsOf(key, leave)} ORDER BY 1`)
          out.set(
            key,
            result.rows.map((row) => row.r),
          )
        }
        return out
      }),
    sagasInFlight: () =>
      asAdmin(async (query) => {
        const keys = (await tables(query)).filter((key) => key.endsWith('.rxt_sagas'))
        if (keys.length === 0) return 0
        const result = await query<{ n: string }>(
          `SELECT count(*)::text AS n FROM (${keys
            .map((key) => {
              const [schema = '', table = ''] = key.split('.')
              return `SELECT 1 FROM ${ident(schema)}.${ident(table)} WHERE status IN ('running', 'compensating')`
            })
            .join(' UNION ALL ')}) s`,
        )
        return Number(result.rows[0]?.n ?? 0)
      }),
    values: () =>
      asAdmin(async (query) => {
        const columns = await query<{ schema: string; table: string; column: string; type: string }>(
          `SELECT c.table_schema AS schema, c.table_name AS table, c.column_name AS column, c.data_type AS type
             FROM information_schema.columns c
             JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema', $1)
              AND c.data_type IN ('text', 'character varying', 'bytea', 'jsonb')`,
          [name],
        )
        const out: { table: string; column: string; value: string }[] = []
        for (const { schema, table, column, type } of columns.rows) {
          const value = type === 'bytea' ? `encode(${ident(column)}, 'hex')` : `${ident(column)}::text`
          const result = await query<{ value: string }>(
            `SELECT DISTINCT ${value} AS value FROM ${ident(schema)}.${ident(table)} WHERE ${ident(column)} IS NOT NULL`,
          )
          for (const row of result.rows) out.push({ table: `${schema}.${table}`, column, value: row.value })
        }
        return out
      }),
  }
}

/** The tables whose digests differ between two readings. */
export function changedTables(before: Digests, after: Digests): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((key) => before.get(key) !== after.get(key))
}
