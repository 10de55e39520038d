export type Row = Record<string, unknown>

export interface QueryResult<R extends Row = Row> {
  readonly rows: R[]
  readonly rowCount: number
}

/** Something SQL can be sent to: a context's db handle or an open transaction. */
export interface Queryable {
  query<R extends Row = Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>
}

/** An open transaction of one context: statements on it commit or roll back together. */
export interface Transaction extends Queryable {
  /** The context whose transaction this is. */
  readonly context: string
  /** Runs `fn` once this transaction has committed (never when it rolls back); errors are logged by the caller. */
  afterCommit(fn: () => void): void
}

/**
 * A context's handle on the database. Every statement runs as the context's own role with its own
 * schema on the search path: another context's tables are out of reach (permission denied).
 */
export interface ContextDb extends Queryable {
  readonly context: string
  readonly schema: string
  readonly role: string
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>
  /** As `transaction`, with `rxt.tenant_id` set for row-level security policies. */
  withTenant<T>(tenantId: string, fn: (tx: Transaction) => Promise<T>): Promise<T>
}

export const DatabaseKind = { pglite: 'pglite', postgres: 'postgres' } as const
export type DatabaseKind = (typeof DatabaseKind)[keyof typeof DatabaseKind]

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
  readonly checksum: string
}

export interface OpenContextOptions {
  /**
   * Migrations the kit itself keeps in every context's schema (the bus's outbox and inbox), recorded
   * apart from the context's own so that both number from 0001.
   */
  readonly kitMigrations?: readonly Migration[]
}

/** A context a start will open, with the migrations it will open it with. */
export interface ExpectedContext {
  readonly name: string
  readonly migrations: readonly Migration[]
  readonly kitMigrations?: readonly Migration[]
}

export interface Database {
  readonly kind: DatabaseKind
  /**
   * Creates the context's role and schema when missing, applies its pending migrations and returns
   * its handle. Safe to call from many processes at once.
   */
  openContext(
    name: string,
    migrations: readonly Migration[],
    options?: OpenContextOptions,
  ): Promise<ContextDb>
  /**
   * Checks, in two statements for all of them, which of the contexts a start is about to open need
   * nothing done (as `openContext` checks one), so that their `openContext` with the same migrations
   * reads nothing more. Only where the administrative user is a superuser (it reads every schema);
   * elsewhere, and for a context it does not find up to date, `openContext` checks as before.
   * Returns the names of those it found up to date.
   */
  expect(contexts: readonly ExpectedContext[]): Promise<readonly string[]>
  /** Resolves when the database answers; throws UnavailableError when it does not. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** A connection checked out for exclusive use, already switched to a context's role. */
export interface Session {
  query<R extends Row = Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>
  /**
   * Opens a transaction. A driver may hold BEGIN back and send it with the next statement in one
   * write, so that a transaction costs one round trip less; a transaction that sends nothing then
   * costs none.
   */
  begin(): Promise<void>
  commit(): Promise<void>
  rollback(): Promise<void>
}

/** What the two engines (pg pool, PGlite) provide; everything else is shared. */
export interface Driver {
  readonly kind: DatabaseKind
  /** Runs `fn` on a connection as the database's administrative user. */
  admin<T>(fn: (session: Session) => Promise<T>): Promise<T>
  /** Returns a runner of exclusive sessions as `role` with `schema` on the search path. */
  forRole(role: string, schema: string): RoleRunner
  close(): Promise<void>
}

export interface RoleRunner {
  run<T>(fn: (session: Session) => Promise<T>): Promise<T>
  /** One statement outside any explicit transaction (may use any free connection). */
  query<R extends Row = Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>
  close(): Promise<void>
}
