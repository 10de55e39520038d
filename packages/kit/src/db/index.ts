import { join, resolve } from 'node:path'
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
  | { readonly kind: 'pglite'; readonly dataDir?: string }

/** Opens PostgreSQL (pooled) or PGlite (embedded; in memory when no dataDir is given). */
export async function openDatabase(target: DatabaseTarget, log: Logger): Promise<Database> {
  if (target.kind === 'postgres') {
    return createDatabase(createPostgresDriver({ url: target.url, poolMax: target.poolMax, log }))
  }
  if (target.dataDir === undefined) return createDatabase(await createPGliteDriver({}))
  const dir = resolve(target.dataDir)
  const lock = lockDataDir(dir)
  try {
    const database = createDatabase(await createPGliteDriver({ dataDir: join(dir, 'pgdata') }))
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
