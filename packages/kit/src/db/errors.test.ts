import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHttpApp, type HttpApp } from '../http/app.ts'
import { createLogger, type Logger } from '../log.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { migration } from './migrations.ts'
import type { ContextDb } from './types.ts'

/** A value that stands for a secret (a password's hash, an API key's): it must reach no log line. */
const canary = 'argon2id$canary-7f3a9c'

const vault = [
  migration(
    '0001_init.sql',
    `CREATE TABLE vault (
       id int PRIMARY KEY,
       value text NOT NULL CHECK (length(value) < 8),
       label text UNIQUE,
       owner uuid
     )`,
  ),
]

/** Statements that fail on a parameter that holds the canary, each in its own way. */
const failing: readonly (readonly [string, string, readonly unknown[], string])[] = [
  ['a check constraint', 'INSERT INTO vault (id, value) VALUES (1, $1)', [canary], '23514'],
  ['a unique key', 'INSERT INTO vault (id, value, label) VALUES ($1, $2, $3)', [3, 'v', canary], '23505'],
  ['a value of the wrong type', 'SELECT id FROM vault WHERE owner = $1', [canary], '22P02'],
  ['a NUL character', 'INSERT INTO vault (id, value) VALUES (4, $1)', [`${canary}\u0000`], '22021'],
]

const captured = (): { log: Logger; output: () => string } => {
  const chunks: string[] = []
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk))
        done()
      },
    }),
  })
  return { log, output: () => chunks.join('') }
}

const failureOf = async (run: () => Promise<unknown>): Promise<unknown> => {
  try {
    await run()
  } catch (error) {
    return error
  }
  throw new Error('the statement was expected to fail')
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`database errors on ${target.name}`, () => {
    let handle: TestDatabase
    let db: ContextDb
    beforeAll(async () => {
      handle = await target.create()
      db = await handle.database.openContext('errs', vault)
      await db.query("INSERT INTO vault (id, value, label) VALUES (2, 'v', $1)", [canary])
    })
    afterAll(async () => {
      await handle?.dispose()
    })

    it.each(
      failing,
    )('an error of %s names its statement and SQLSTATE and carries none of its parameters', async (_what, text, params, sqlState) => {
      const { log, output } = captured()
      const outside = await failureOf(() => db.query(text, params))
      const inside = await failureOf(() =>
        db.transaction(async (tx) => {
          // what a context's code sees inside its transaction, before the kit translates it
          const raw = await failureOf(() => tx.query(text, params))
          log.error({ err: raw }, 'statement failed inside a transaction')
          throw raw
        }),
      )
      for (const error of [outside, inside]) log.error({ err: error }, 'request failed')
      const lines = output()
      expect(lines).toContain(sqlState)
      expect(lines).toContain(text.split(' ').slice(0, 3).join(' '))
      expect(lines).not.toContain('canary')
      // nor anywhere on the error objects (their causes included), whatever a serializer reads
      for (const error of [outside, inside]) {
        let at: unknown = error
        while (at instanceof Error) {
          expect(JSON.stringify({ ...at, message: at.message, stack: at.stack })).not.toContain('canary')
          at = at.cause
        }
      }
    })

    it('logs a failed request without the parameters of the statement that failed it', async () => {
      const { log, output } = captured()
      const app: HttpApp = await createHttpApp({ log, title: 't', version: '1', readiness: [] })
      app.post('/vault', async () => db.query('INSERT INTO vault (id, value) VALUES (9, $1)', [canary]))
      await app.ready()
      try {
        const res = await app.inject({ method: 'POST', url: '/vault' })
        expect(res.statusCode).toBeGreaterThanOrEqual(400)
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
        expect(res.body).not.toContain('canary')
        expect(output()).toContain('23514')
        expect(output()).not.toContain('canary')
      } finally {
        await app.close()
      }
    })
  })
}
