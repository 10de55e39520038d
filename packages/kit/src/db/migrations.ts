import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConflictError, InputError } from '../errors.ts'
import type { Migration, Session } from './types.ts'

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/

export const checksumOf = (sql: string): string =>
  createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex')

/** Builds a migration from its file name (`0001_init.sql`) and text. */
export function migration(file: string, sql: string): Migration {
  const match = fileName.exec(file)
  if (match === null) {
    throw new InputError(
      `migration file ${file} must be named NNNN_name.sql (four digits, lower-case name)`,
      [{ path: file, message: 'bad migration file name' }],
    )
  }
  return { version: Number(match[1]), name: file, sql, checksum: checksumOf(sql) }
}

/** Reads every `NNNN_name.sql` of a context's migrations directory, in version order. */
export async function loadMigrations(directory: URL | string): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((f) => f.endsWith('.sql')).sort()
  const base = typeof directory === 'string' ? directory : fileURLToPath(directory)
  const migrations = await Promise.all(
    files.map(async (file) => migration(file, await readFile(join(base, file), 'utf8'))),
  )
  const seen = new Map<number, string>()
  for (const m of migrations) {
    const other = seen.get(m.version)
    if (other !== undefined) {
      throw new InputError(`migrations ${other} and ${m.name} share version ${m.version}`, [
        { path: m.name, message: 'duplicate migration version' },
      ])
    }
    seen.set(m.version, m.name)
  }
  return migrations.sort((a, b) => a.version - b.version)
}

interface AppliedRow extends Record<string, unknown> {
  version: number
  name: string
  checksum: string
}

/**
 * Applies the pending migrations of one context in one transaction, as the context's role, under an
 * advisory lock (replicas starting together apply each migration once). Stops with a clear error when
 * an applied migration was edited, is missing from this build, or a new one sorts before an applied one.
 */
export async function applyMigrations(
  session: Session,
  context: string,
  migrations: readonly Migration[],
  table = 'rxt_migrations',
): Promise<{ applied: string[] }> {
  await session.begin()
  try {
    await session.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`rxt:migrate:${context}`])
    await session.exec(`CREATE TABLE IF NOT EXISTS ${table} (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const { rows } = await session.query<AppliedRow>(
      `SELECT version, name, checksum FROM ${table} ORDER BY version`,
    )
    const pending = planMigrations(context, rows, migrations)
    for (const m of pending) {
      await session.exec(m.sql)
      await session.query(`INSERT INTO ${table} (version, name, checksum) VALUES ($1, $2, $3)`, [
        m.version,
        m.name,
        m.checksum,
      ])
    }
    await session.commit()
    return { applied: pending.map((m) => m.name) }
  } catch (error) {
    await session.rollback()
    throw error
  }
}

/** Pure: which migrations to apply, or why the database and this build disagree. */
export function planMigrations(
  context: string,
  applied: readonly { version: number; name: string; checksum: string }[],
  migrations: readonly Migration[],
): Migration[] {
  const byVersion = new Map(migrations.map((m) => [m.version, m]))
  for (const row of applied) {
    const known = byVersion.get(row.version)
    if (known === undefined) {
      throw new ConflictError(
        `migration ${context}/${row.name} is applied in the database but missing from this build; run a build that has it`,
      )
    }
    if (known.checksum !== row.checksum) {
      throw new ConflictError(
        `migration ${context}/${row.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)} applied, ${known.checksum.slice(0, 12)} on disk); restore it and add a new migration instead`,
      )
    }
  }
  const newest = applied.reduce((max, row) => Math.max(max, row.version), 0)
  const appliedVersions = new Set(applied.map((row) => row.version))
  const pending = migrations.filter((m) => !appliedVersions.has(m.version))
  const early = pending.find((m) => m.version < newest)
  if (early !== undefined) {
    throw new ConflictError(
      `migration ${context}/${early.name} sorts before the newest applied migration (${newest}); renumber it after ${newest}`,
    )
  }
  return pending
}
