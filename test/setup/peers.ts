import pg from 'pg'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the PostgreSQL the suites create fresh databases on; '' when there is none. */
    postgresUrl: string
    /** Why PostgreSQL suites are skipped; '' when they run. */
    postgresSkipReason: string
  }
}

/**
 * Finds the real peers once per run. A missing peer skips its suites with the reason printed, except
 * under CI=true, where it fails the run.
 */
export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.RXT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  let reason = ''
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (error) {
    reason = `PostgreSQL at ${url.replace(/:[^:@/]*@/, ':***@')} is not reachable (${(error as Error).message})`
  } finally {
    await client.end().catch(() => undefined)
  }
  if (reason !== '' && process.env.CI === 'true')
    throw new Error(`CI=true and a test peer is missing: ${reason}`)
  if (reason !== '') process.stdout.write(`SKIPPED postgres suites: ${reason}\n`)
  project.provide('postgresUrl', reason === '' ? url : '')
  project.provide('postgresSkipReason', reason)
}
