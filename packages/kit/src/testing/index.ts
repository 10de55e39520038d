import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { inject } from 'vitest'
import { type Database, openDatabase } from '../db/index.ts'
import { createLogger } from '../log.ts'

export interface TestDatabase {
  readonly database: Database
  /** The URL of the fresh database (postgres only). */
  readonly url: string | undefined
  /** Closes the handle and drops the fresh database. */
  dispose(): Promise<void>
}

export interface DbTarget {
  readonly name: 'pglite' | 'postgres'
  /** Why this target is skipped in this run, or undefined when it runs. */
  readonly skipped: string | undefined
  /** A fresh, empty database of this kind: in-memory PGlite, or a new PostgreSQL database. */
  create(): Promise<TestDatabase>
}

const silent = createLogger({ level: 'silent' })

/** Creates a new PostgreSQL database next to `baseUrl`; returns its URL and a drop function. */
export async function createFreshPostgres(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `rxt_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const admin = new pg.Client({ connectionString: baseUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: baseUrl })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

/**
 * The databases a suite that touches SQL runs on: PGlite always, PostgreSQL when the run has one
 * (a fresh database per call, so runs never collide). Use with `describe.skipIf(target.skipped)`.
 */
export function dbTargets(): DbTarget[] {
  const postgresUrl = inject('postgresUrl')
  const reason = inject('postgresSkipReason')
  return [
    {
      name: 'pglite',
      skipped: undefined,
      create: async () => {
        const database = await openDatabase({ kind: 'pglite' }, silent)
        return { database, url: undefined, dispose: () => database.close() }
      },
    },
    {
      name: 'postgres',
      skipped: reason === '' ? undefined : reason,
      create: async () => {
        const fresh = await createFreshPostgres(postgresUrl)
        const database = await openDatabase({ kind: 'postgres', url: fresh.url, poolMax: 4 }, silent)
        return {
          database,
          url: fresh.url,
          dispose: async () => {
            await database.close()
            await fresh.drop()
          },
        }
      },
    },
  ]
}
