import {
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../log.ts'
import { lockDataDir } from './data-dir-lock.ts'
import { createDatabase } from './database.ts'
import { createPGliteDriver } from './pglite.ts'
import { createPostgresDriver } from './postgres.ts'
import type { Database } from './types.ts'

export { type CommitQueue, type CommitQueueOptions, createCommitQueue } from './batch.ts'
export { roleOf } from './database.ts'
export { translateDbError } from './errors.ts'
export { checksumOf, loadMigrations, migration, planMigrations } from './migrations.ts'
export type {
  ContextDb,
  Database,
  DatabaseKind,
  Migration,
  OpenContextOptions,
  Queryable,
  QueryResult,
  Row,
  Transaction,
} from './types.ts'

export type DatabaseTarget =
  | { readonly kind: 'postgres'; readonly url: string; readonly poolMax: number }
  | {
      readonly kind: 'pglite'
      readonly dataDir?: string
      /**
       * A PGlite data directory to start from when `dataDir` holds none yet (see `preparePGliteTemplate`):
       * copied rather than made by initdb and migrated, which is most of a first start.
       */
      readonly template?: string
    }

/** Opens PostgreSQL (pooled) or PGlite (embedded; in memory when no dataDir is given). */
export async function openDatabase(target: DatabaseTarget, log: Logger): Promise<Database> {
  if (target.kind === 'postgres') {
    return createDatabase(createPostgresDriver({ url: target.url, poolMax: target.poolMax, log }))
  }
  if (target.dataDir === undefined) return createDatabase(await createPGliteDriver({}))
  const dir = resolve(target.dataDir)
  const lock = lockDataDir(dir)
  try {
    const pgdata = join(dir, 'pgdata')
    if (target.template !== undefined) copyTemplate(target.template, pgdata)
    const database = createDatabase(await createPGliteDriver({ dataDir: pgdata }))
    return {
      ...database,
      close: async () => {
        try {
          await database.close()
        } finally {
          lock.release()
        }
      },
    }
  } catch (error) {
    lock.release()
    throw error
  }
}

/**
 * Copies a template data directory to `pgdata` when there is none there yet (no directory, or an empty
 * one): beside it first, then renamed into place, so that a copy cut short is never taken for a
 * database. A missing template changes nothing: PGlite makes the database as it would have.
 */
function copyTemplate(template: string, pgdata: string): void {
  if (!existsSync(join(template, 'PG_VERSION'))) return
  if (existsSync(pgdata) && readdirSync(pgdata).length > 0) return
  const partial = `${pgdata}.partial-${process.pid}`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(dirname(pgdata), { recursive: true })
  try {
    // A copy-on-write clone where the file system has them.
    cpSync(template, partial, { recursive: true, mode: constants.COPYFILE_FICLONE })
  } catch {
    // The template went meanwhile (a `prepare` of another build): PGlite makes the database instead.
    rmSync(partial, { recursive: true, force: true })
    return
  }
  rmSync(pgdata, { recursive: true, force: true })
  renameSync(partial, pgdata)
}

/**
 * Makes a template for `openDatabase`'s `template` at `dir`: a PGlite data directory on which `prepare`
 * ran (the migrations of a build, say), closed cleanly. Built beside `dir` and renamed into place; a
 * template already there is kept (another process made the same one).
 */
export async function preparePGliteTemplate(
  dir: string,
  prepare: (database: Database) => Promise<void>,
): Promise<void> {
  if (existsSync(join(dir, 'PG_VERSION'))) return
  const building = `${dir}.building-${process.pid}`
  rmSync(building, { recursive: true, force: true })
  mkdirSync(dirname(dir), { recursive: true })
  const database = createDatabase(await createPGliteDriver({ dataDir: building }))
  try {
    await prepare(database)
  } finally {
    await database.close()
  }
  try {
    renameSync(building, dir)
  } catch (error) {
    rmSync(building, { recursive: true, force: true })
    if (!existsSync(join(dir, 'PG_VERSION'))) throw error
  }
}

/** The version of PGlite this build runs (a data directory is tied to it). */
export function pgliteVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')))
  for (;;) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === '@electric-sql/pglite' && pkg.version !== undefined) return pkg.version
    }
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the version of @electric-sql/pglite')
    dir = up
  }
}
