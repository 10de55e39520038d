import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { migration } from './migrations.ts'
import type { Database } from './types.ts'

const notes = [
  migration(
    '0001_init.sql',
    `CREATE TABLE notes (id serial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
     ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
     ALTER TABLE notes FORCE ROW LEVEL SECURITY;
     CREATE POLICY tenant_isolation ON notes
       USING (tenant_id = current_setting('rxt.tenant_id', true))
       WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));`,
  ),
]
const secrets = [migration('0001_init.sql', 'CREATE TABLE vault (id int PRIMARY KEY, value text NOT NULL)')]

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`kit db on ${target.name}`, () => {
    let handle: TestDatabase
    let db: Database
    beforeAll(async () => {
      handle = await target.create()
      db = handle.database
    })
    afterAll(async () => {
      await handle?.dispose()
    })

    it('creates the schema and role of a context and applies its migrations once', async () => {
      const alpha = await db.openContext('alpha', notes)
      expect(alpha.schema).toBe('alpha')
      expect(alpha.role).toBe('rxt_alpha')
      const who = await alpha.query<{ user: string; path: string }>(
        'SELECT current_user AS user, current_setting($1) AS path',
        ['search_path'],
      )
      expect(who.rows[0]).toEqual({ user: 'rxt_alpha', path: 'alpha' })
      const again = await db.openContext('alpha', notes)
      const applied = await again.query<{ version: number; name: string }>(
        'SELECT version, name FROM rxt_migrations',
      )
      expect(applied.rows).toEqual([{ version: 1, name: '0001_init.sql' }])
    })

    it("denies a context's query on another context's table", async () => {
      const beta = await db.openContext('beta', secrets)
      await beta.query('INSERT INTO vault VALUES (1, $1)', ['top'])
      const alpha = await db.openContext('alpha', notes)
      await expect(alpha.query('SELECT * FROM beta.vault')).rejects.toMatchObject({ code: '42501' })
      await expect(alpha.query('SELECT * FROM beta.vault')).rejects.toThrow(/permission denied/)
      // nor write there, nor create objects in another schema
      await expect(alpha.query("INSERT INTO beta.vault VALUES (9, 'x')")).rejects.toMatchObject({
        code: '42501',
      })
      await expect(alpha.query('CREATE TABLE beta.planted (id int)')).rejects.toMatchObject({ code: '42501' })
      await expect(alpha.query('CREATE TABLE public.planted (id int)')).rejects.toMatchObject({
        code: '42501',
      })
    })

    it('withTenant sets rxt.tenant_id so row-level security filters and checks rows', async () => {
      const alpha = await db.openContext('alpha', notes)
      await alpha.withTenant('t1', (tx) =>
        tx.query("INSERT INTO notes (tenant_id, body) VALUES ('t1', 'one')"),
      )
      await alpha.withTenant('t2', (tx) =>
        tx.query("INSERT INTO notes (tenant_id, body) VALUES ('t2', 'two')"),
      )
      const t1 = await alpha.withTenant('t1', (tx) => tx.query<{ body: string }>('SELECT body FROM notes'))
      expect(t1.rows).toEqual([{ body: 'one' }])
      await expect(
        alpha.withTenant('t1', (tx) =>
          tx.query("INSERT INTO notes (tenant_id, body) VALUES ('t2', 'sneak')"),
        ),
      ).rejects.toThrow(/row-level security/)
      // outside withTenant no tenant is set: nothing is visible
      expect((await alpha.query('SELECT * FROM notes')).rows).toEqual([])
      // the setting is local to the transaction: it does not leak to the next one on the connection
      const after = await alpha.transaction((tx) =>
        tx.query<{ tenant: string | null }>("SELECT current_setting('rxt.tenant_id', true) AS tenant"),
      )
      expect(after.rows[0]?.tenant ?? '').toBe('')
    })

    it('rolls a transaction back when its function throws, and refuses the outer handle inside it', async () => {
      const beta = await db.openContext('beta', secrets)
      await expect(
        beta.transaction(async (tx) => {
          await tx.query('INSERT INTO vault VALUES (2, $1)', ['lost'])
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect((await beta.query('SELECT id FROM vault WHERE id = 2')).rows).toEqual([])
      await expect(beta.transaction(() => beta.query('SELECT 1'))).rejects.toThrow(/inside a transaction/)
    })

    it('keeps transactions whole when their first statement fails, when they send nothing, and under load', async () => {
      const held = await db.openContext('held_begin', secrets)
      // The first statement fails: the transaction and its later statements are gone, the connection works.
      await expect(
        held.transaction(async (tx) => {
          await tx.query('INSERT INTO vault VALUES (1, NULL)')
        }),
      ).rejects.toThrow()
      await held.transaction(async () => undefined)
      // Both statements of each transaction see the same transaction: the second reads the first's row.
      const seen = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          held
            .transaction(async (tx) => {
              await tx.query('INSERT INTO vault VALUES ($1, $2)', [100 + i, `v${i}`])
              const { rows } = await tx.query<{ n: string }>(
                'SELECT count(*) AS n FROM vault WHERE id = $1 AND txid_current_if_assigned() IS NOT NULL',
                [100 + i],
              )
              if (i % 2 === 1) throw new Error('rolled back on purpose')
              return Number(rows[0]?.n)
            })
            .catch(() => 'rolled back'),
        ),
      )
      expect(seen.filter((s) => s === 1)).toHaveLength(20)
      const { rows } = await held.query<{ id: number }>('SELECT id FROM vault ORDER BY id')
      expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + 2 * i))
    })
    it('stops on an applied migration that was edited, and names it', async () => {
      const edited = [migration('0001_init.sql', 'CREATE TABLE vault (id int PRIMARY KEY, value text)')]
      await expect(db.openContext('beta', edited)).rejects.toThrow(
        /migration beta\/0001_init\.sql was edited after it was applied/,
      )
    })

    it('checks the contexts a start opens at once, and opens those up to date without reading again', async () => {
      await db.openContext('epsilon', secrets)
      const newer = [...secrets, migration('0002_more.sql', 'CREATE TABLE more (id int)')]
      const edited = [migration('0001_init.sql', 'CREATE TABLE vault (id int PRIMARY KEY, value text)')]
      await db.openContext('eta', secrets)
      const ready = await db.expect([
        { name: 'epsilon', migrations: secrets },
        { name: 'zeta', migrations: secrets }, // not made yet
        { name: 'beta', migrations: edited },
        { name: 'eta', migrations: newer }, // a migration to apply
        { name: 'Not-A-Name', migrations: [] },
      ])
      // (As a superuser, which both test databases connect as; elsewhere it finds none.)
      expect([...ready].sort()).toEqual(['epsilon'])
      await expect(db.openContext('epsilon', secrets)).resolves.toMatchObject({ schema: 'epsilon' })
      const zeta = await db.openContext('zeta', secrets)
      expect((await zeta.query('SELECT version FROM rxt_migrations')).rows).toEqual([{ version: 1 }])
      await expect(db.openContext('beta', edited)).rejects.toThrow(/was edited after it was applied/)
      const eta = await db.openContext('eta', newer)
      expect((await eta.query('SELECT count(*)::int AS n FROM rxt_migrations')).rows).toEqual([{ n: 2 }])
      // Opened with other migrations than it checked: checked again, and refused.
      await db.expect([{ name: 'epsilon', migrations: secrets }])
      await expect(db.openContext('epsilon', edited)).rejects.toThrow(/was edited after it was applied/)
    })

    it('applies a failing migration not at all', async () => {
      const broken = [
        ...secrets,
        migration('0002_half.sql', 'CREATE TABLE half (id int); SELECT no_such_function();'),
      ]
      await expect(db.openContext('beta', broken)).rejects.toThrow(/no_such_function/)
      const beta = await db.openContext('beta', secrets)
      const tables = await beta.query(
        "SELECT 1 FROM pg_tables WHERE schemaname = 'beta' AND tablename = 'half'",
      )
      expect(tables.rows).toEqual([])
      expect((await beta.query('SELECT version FROM rxt_migrations')).rows).toEqual([{ version: 1 }])
    })

    it('applies each migration once when replicas open the same context together', async () => {
      const counter = [
        migration('0001_init.sql', 'CREATE TABLE runs (n int)'),
        migration('0002_count.sql', 'INSERT INTO runs VALUES (1)'),
      ]
      const others =
        handle.url === undefined ? [] : await Promise.all([1, 2].map(() => reopen(handle.url as string)))
      const handles = [db, ...others.map((o) => o.database)]
      const opened = await Promise.all(
        handles.flatMap((d) => [d.openContext('gamma', counter), d.openContext('gamma', counter)]),
      )
      const runs = await opened[0]?.query<{ n: number }>('SELECT n FROM runs')
      expect(runs?.rows).toEqual([{ n: 1 }])
      await Promise.all(others.map((o) => o.database.close()))
    })

    it('opens a context with nothing to do without its locks, and one with a new migration under them', async () => {
      await db.openContext('delta', secrets)
      const newer = [...secrets, migration('0002_more.sql', 'CREATE TABLE more (id int)')]
      if (handle.url === undefined) {
        // One connection: no other session can hold a lock; the two paths still agree.
        await db.openContext('delta', secrets)
        const delta = await db.openContext('delta', newer)
        expect((await delta.query('SELECT version FROM rxt_migrations ORDER BY version')).rows).toEqual([
          { version: 1 },
          { version: 2 },
        ])
        return
      }
      // Another process holds the bootstrap lock (a replica starting, say).
      const other = await reopen(handle.url)
      const locker = await other.database.openContext('locker', [])
      let release: () => void = () => {}
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      let locked: () => void = () => {}
      const holding = new Promise<void>((resolve) => {
        locked = resolve
      })
      const held = locker.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock(hashtext('rxt:bootstrap'))")
        locked()
        await released
      })
      await holding
      // Up to date: opened at once, lock or no lock.
      await expect(db.openContext('delta', secrets)).resolves.toMatchObject({ schema: 'delta' })
      // A migration to apply waits for the lock.
      let applied = false
      const migrating = db.openContext('delta', newer).then((c) => {
        applied = true
        return c
      })
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(applied).toBe(false)
      release()
      await held
      const delta = await migrating
      expect((await delta.query('SELECT version FROM rxt_migrations ORDER BY version')).rows).toEqual([
        { version: 1 },
        { version: 2 },
      ])
      await other.database.close()
    })

    it('answers ping', async () => {
      await expect(db.ping()).resolves.toBeUndefined()
    })
  })
}

async function reopen(url: string) {
  const { openDatabase } = await import('./index.ts')
  const { createLogger } = await import('../log.ts')
  return {
    database: await openDatabase({ kind: 'postgres', url, poolMax: 2 }, createLogger({ level: 'silent' })),
  }
}
