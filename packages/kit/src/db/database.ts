import { AsyncLocalStorage } from 'node:async_hooks'
import { InputError } from '../errors.ts'
import { databaseErrorOf, translateDbError } from './errors.ts'
import { applyMigrations, planMigrations } from './migrations.ts'
import type {
  ContextDb,
  Database,
  Driver,
  ExpectedContext,
  Migration,
  OpenContextOptions,
  RoleRunner,
  Session,
  Transaction,
} from './types.ts'

/**
 * The driver with every error it throws replaced by a DatabaseError (errors.ts): the statement's
 * first words, its SQLSTATE and the names the server reports, never a parameter. Wrapping the driver
 * rather than each caller is what makes it hold for every statement: a context's own, a migration, the
 * bus's, inside a transaction (what a context's code catches there) or outside.
 */
function scrubbed(driver: Driver): Driver {
  const session = (raw: Session): Session => ({
    query: async (text, params) => {
      try {
        return await raw.query(text, params)
      } catch (error) {
        throw databaseErrorOf(text, error)
      }
    },
    exec: async (sql) => {
      try {
        await raw.exec(sql)
      } catch (error) {
        throw databaseErrorOf(sql, error)
      }
    },
    begin: async () => {
      try {
        await raw.begin()
      } catch (error) {
        throw databaseErrorOf('BEGIN', error)
      }
    },
    commit: async () => {
      try {
        await raw.commit()
      } catch (error) {
        throw databaseErrorOf('COMMIT', error)
      }
    },
    rollback: async () => {
      try {
        await raw.rollback()
      } catch (error) {
        throw databaseErrorOf('ROLLBACK', error)
      }
    },
  })
  // What fn throws is its own (or already scrubbed by the session); what fails before fn runs is the
  // driver's: checking out a connection, switching it to the context's role.
  const run =
    (raw: <T>(fn: (session: Session) => Promise<T>) => Promise<T>) =>
    async <T>(fn: (session: Session) => Promise<T>): Promise<T> => {
      let entered = false
      try {
        return await raw((s) => {
          entered = true
          return fn(session(s))
        })
      } catch (error) {
        throw entered ? error : databaseErrorOf('(opening a session)', error)
      }
    }
  return {
    kind: driver.kind,
    admin: run((fn) => driver.admin(fn)),
    forRole(role, schema) {
      const raw = driver.forRole(role, schema)
      return {
        run: run((fn) => raw.run(fn)),
        query: async (text, params) => {
          try {
            return await raw.query(text, params)
          } catch (error) {
            throw databaseErrorOf(text, error)
          }
        },
        close: () => raw.close(),
      }
    },
    close: () => driver.close(),
  }
}

const contextName = /^[a-z][a-z0-9_]{0,40}$/

/** The Postgres role a context's statements run as. Roles are cluster-wide; the prefix keeps ours apart. */
export const roleOf = (context: string): string => `rxt_${context}`

/**
 * Idempotent, race-tolerant bootstrap of a context: its NOLOGIN role, the administrative user's right
 * to act as it, and its schema owned by it. Nothing else is granted: the role reaches its schema only.
 */
const bootstrapSql = (role: string, schema: string): string => `
DO $rxt$
BEGIN
  BEGIN
    CREATE ROLE "${role}" NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT pg_has_role(current_user, '${role}', 'MEMBER') THEN
    EXECUTE format('GRANT %I TO %I', '${role}', current_user);
  END IF;
END
$rxt$;
CREATE SCHEMA IF NOT EXISTS "${schema}" AUTHORIZATION "${role}";`

/**
 * Whether a context needs nothing done: its role exists (and the administrative user may act as it),
 * its schema is its own, and every migration of this build is applied, none edited. Two reads and no
 * lock, so that a start that finds everything in place pays almost nothing for the check; anything
 * else (a first start, a new migration, an edited one) takes the locked path, which applies or refuses.
 */
async function upToDate(
  driver: Driver,
  runner: RoleRunner,
  context: string,
  role: string,
  schema: string,
  migrations: readonly Migration[],
  kit: readonly Migration[],
): Promise<boolean> {
  const { rows } = await driver.admin((session) =>
    session.query<{ ready: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                       WHERE n.nspname = $2 AND r.rolname = $1)
          AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
               OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
                       THEN pg_has_role(current_user, $1, 'MEMBER') ELSE false END)
          AND to_regclass(format('%I.rxt_migrations', $2)) IS NOT NULL
          AND ($3 OR to_regclass(format('%I.rxt_kit_migrations', $2)) IS NOT NULL) AS ready`,
      [role, schema, kit.length === 0],
    ),
  )
  if (rows[0]?.ready !== true) return false
  const found = await runner.query<MigrationRow>(
    `SELECT false AS kit, version, name, checksum FROM rxt_migrations${
      kit.length === 0 ? '' : ' UNION ALL SELECT true, version, name, checksum FROM rxt_kit_migrations'
    }`,
  )
  return applied(context, found.rows, migrations, kit)
}

/** Whether this build's migrations are the ones applied, none missing and none edited. */
function applied(
  context: string,
  rows: readonly MigrationRow[],
  migrations: readonly Migration[],
  kit: readonly Migration[],
) {
  try {
    return (
      planMigrations(
        context,
        rows.filter((r) => !r.kit),
        migrations,
      ).length === 0 &&
      planMigrations(
        `${context} (kit)`,
        rows.filter((r) => r.kit),
        kit,
      ).length === 0
    )
  } catch {
    // The locked path says what is wrong.
    return false
  }
}

interface MigrationRow extends Record<string, unknown> {
  kit: boolean
  version: number
  name: string
  checksum: string
}

/**
 * `upToDate` for many contexts in two statements, as a superuser (the embedded database's
 * administrative user is): the names of those that need nothing done.
 */
async function upToDateAll(driver: Driver, contexts: readonly ExpectedContext[]): Promise<Set<string>> {
  const named = contexts.filter((c) => contextName.test(c.name))
  if (named.length === 0) return new Set()
  const { rows } = await driver.admin((session) =>
    session.query<{ name: string; ready: boolean }>(
      `SELECT c.name,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
          AND EXISTS (SELECT 1 FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                       WHERE n.nspname = c.name AND r.rolname = c.role)
          AND to_regclass(format('%I.rxt_migrations', c.name)) IS NOT NULL
          AND (c.nokit OR to_regclass(format('%I.rxt_kit_migrations', c.name)) IS NOT NULL) AS ready
         FROM unnest($1::text[], $2::text[], $3::bool[]) AS c(name, role, nokit)`,
      [
        named.map((c) => c.name),
        named.map((c) => roleOf(c.name)),
        named.map((c) => (c.kitMigrations ?? []).length === 0),
      ],
    ),
  )
  const ready = named.filter((c) => rows.some((r) => r.name === c.name && r.ready))
  if (ready.length === 0) return new Set()
  // The names match contextName: safe as identifiers and as literals.
  const reads = ready.flatMap((c) => [
    `SELECT '${c.name}' AS context, false AS kit, version, name, checksum FROM "${c.name}".rxt_migrations`,
    ...((c.kitMigrations ?? []).length === 0
      ? []
      : [`SELECT '${c.name}', true, version, name, checksum FROM "${c.name}".rxt_kit_migrations`]),
  ])
  const found = await driver.admin((session) =>
    session.query<MigrationRow & { context: string }>(reads.join(' UNION ALL ')),
  )
  return new Set(
    ready
      .filter((c) =>
        applied(
          c.name,
          found.rows.filter((r) => r.context === c.name),
          c.migrations,
          c.kitMigrations ?? [],
        ),
      )
      .map((c) => c.name),
  )
}

/** The shared half of both engines: role/schema bootstrap, migrations, transactions, tenancy. */
export function createDatabase(unscrubbed: Driver): Database {
  const driver = scrubbed(unscrubbed)
  const runners: RoleRunner[] = []
  // What `expect` found up to date, with the migrations it checked.
  const expected = new Map<string, ExpectedContext>()
  return {
    kind: driver.kind,
    async expect(contexts: readonly ExpectedContext[]): Promise<readonly string[]> {
      // Only what this call finds holds: an earlier answer may be stale.
      expected.clear()
      let ready: Set<string>
      try {
        ready = await upToDateAll(driver, contexts)
      } catch {
        // Each context is checked as it opens.
        return []
      }
      for (const c of contexts) if (ready.has(c.name)) expected.set(c.name, c)
      return [...ready]
    },
    async openContext(
      name: string,
      migrations: readonly Migration[],
      options: OpenContextOptions = {},
    ): Promise<ContextDb> {
      if (!contextName.test(name)) {
        throw new InputError(`context name ${JSON.stringify(name)} must match ${contextName.source}`)
      }
      const role = roleOf(name)
      const schema = name
      const kit = options.kitMigrations ?? []
      try {
        // (A pool opens its connections when first used: after the bootstrap, on a first start.)
        const runner = driver.forRole(role, schema)
        runners.push(runner)
        const checked = expected.get(name)
        expected.delete(name)
        const sameList = (a: readonly Migration[], b: readonly Migration[]) =>
          a.length === b.length && a.every((m, i) => m === b[i])
        if (
          (checked !== undefined &&
            sameList(checked.migrations, migrations) &&
            sameList(checked.kitMigrations ?? [], kit)) ||
          (await upToDate(driver, runner, name, role, schema, migrations, kit))
        ) {
          return contextDb(name, role, schema, runner)
        }
        await driver.admin(async (session) => {
          await session.begin()
          try {
            await session.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['rxt:bootstrap'])
            await session.exec(bootstrapSql(role, schema))
            await session.commit()
          } catch (error) {
            await session.rollback()
            throw error
          }
        })
        if (kit.length > 0) {
          await runner.run((session) => applyMigrations(session, `${name} (kit)`, kit, 'rxt_kit_migrations'))
        }
        await runner.run((session) => applyMigrations(session, name, migrations))
        return contextDb(name, role, schema, runner)
      } catch (error) {
        throw translateDbError(error)
      }
    },
    async ping() {
      try {
        await driver.admin((session) => session.query('SELECT 1'))
      } catch (error) {
        throw translateDbError(error)
      }
    },
    async close() {
      await Promise.all(runners.map((runner) => runner.close()))
      await driver.close()
    },
  }
}

/** Marks the async flow inside a transaction, so that using the outer handle there fails loudly. */
const inTransaction = new AsyncLocalStorage<string>()

function contextDb(context: string, role: string, schema: string, runner: RoleRunner): ContextDb {
  const guard = () => {
    const open = inTransaction.getStore()
    if (open !== undefined) {
      throw new Error(
        `${context}: a database handle was used inside a transaction of ${open}; use that transaction's handle (tx) instead`,
      )
    }
  }

  const inTx = <T>(
    setup: ((session: Session) => Promise<unknown>) | undefined,
    fn: (tx: Transaction) => Promise<T>,
  ) => {
    guard()
    const committed: (() => void)[] = []
    return runner
      .run(async (session) => {
        await session.begin()
        let result: T
        try {
          if (setup !== undefined) await setup(session)
          const tx: Transaction = {
            context,
            query: (text, params) => session.query(text, params),
            afterCommit: (hook) => {
              committed.push(hook)
            },
          }
          result = await inTransaction.run(context, () => fn(tx))
        } catch (error) {
          await session.rollback()
          throw error
        }
        await session.commit()
        return result
      })
      .then((result) => {
        for (const hook of committed) hook()
        return result
      })
      .catch((error: unknown) => {
        throw translateDbError(error)
      })
  }

  return {
    context,
    role,
    schema,
    query: async (text, params) => {
      guard()
      try {
        return await runner.query(text, params)
      } catch (error) {
        throw translateDbError(error)
      }
    },
    transaction: (fn) => inTx(undefined, fn),
    withTenant: (tenantId, fn) => {
      if (tenantId.length === 0) throw new InputError('withTenant needs a tenant id')
      return inTx((session) => session.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId]), fn)
    },
  }
}
