import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../log.ts'
import { openDatabase, preparePGliteTemplate } from './index.ts'
import { migration } from './migrations.ts'

const log = createLogger({ level: 'silent' })
const notes = [migration('0001_init.sql', 'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)')]

describe('a template of the embedded database', () => {
  let root: string
  let template: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rxt-template-'))
    template = join(root, 'templates', 'one')
    await preparePGliteTemplate(template, async (database) => {
      await database.openContext('notes', notes)
    })
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('is copied into an empty data directory, migrations applied, and never over a database', async () => {
    const dataDir = join(root, 'data')
    const first = await openDatabase({ kind: 'pglite', dataDir, template }, log)
    const db = await first.openContext('notes', notes)
    expect((await db.query('SELECT version FROM rxt_migrations')).rows).toEqual([{ version: 1 }])
    await db.query("INSERT INTO notes VALUES (1, 'kept')")
    await first.close()
    // Nothing of the copy is left beside it.
    expect((await readdir(dataDir)).sort()).toEqual(['pgdata'])

    const again = await openDatabase({ kind: 'pglite', dataDir, template }, log)
    const kept = await again.openContext('notes', notes)
    expect((await kept.query('SELECT body FROM notes')).rows).toEqual([{ body: 'kept' }])
    await again.close()
  })

  it('is kept when made again, and a missing one changes nothing', async () => {
    let ran = false
    await preparePGliteTemplate(template, async () => {
      ran = true
    })
    expect(ran).toBe(false)
    const dataDir = join(root, 'plain')
    const database = await openDatabase({ kind: 'pglite', dataDir, template: join(root, 'none') }, log)
    const db = await database.openContext('notes', notes)
    expect((await db.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 0 }])
    await database.close()
  })
})
