import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { currentScope, withScope } from '../scope.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { createCommitQueue } from './batch.ts'
import { migration } from './migrations.ts'
import type { ContextDb } from './types.ts'

const notes = [
  migration(
    '0001_init.sql',
    `CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL CHECK (body <> 'refused'));`,
  ),
]

interface Note {
  readonly id: string
  readonly body: string
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`commit queue on ${target.name}`, () => {
    let handle: TestDatabase
    let db: ContextDb
    /** The items of each batch `run` was given, in order. */
    let batches: string[][]
    /** A queue that writes a batch of notes in one transaction, one multi-row INSERT; a duplicate id is `false`. */
    const notesQueue = () =>
      createCommitQueue<Note, boolean>({
        maxBatch: 10,
        run: async (items) => {
          batches.push(items.map((n) => n.id))
          return db.transaction(async (tx) => {
            const { rows } = await tx.query<{ id: string; body: string }>(
              `INSERT INTO notes (id, body) SELECT * FROM unnest($1::text[], $2::text[])
               ON CONFLICT DO NOTHING RETURNING id, body`,
              [items.map((n) => n.id), items.map((n) => n.body)],
            )
            // Which of them: an id alone is not enough when one batch holds it twice.
            const inserted = new Set(rows.map((r) => `${r.id}\n${r.body}`))
            return items.map((n) => inserted.has(`${n.id}\n${n.body}`))
          })
        },
      })
    const stored = async (ids: readonly string[]) =>
      (
        await db.query<{ id: string }>('SELECT id FROM notes WHERE id = ANY($1::text[]) ORDER BY id', [ids])
      ).rows.map((r) => r.id)

    beforeAll(async () => {
      handle = await target.create()
      db = await handle.database.openContext('batching', notes)
    })
    afterAll(async () => {
      await handle?.dispose()
    })

    it('writes what is submitted together in batches of at most maxBatch, and answers each once committed', async () => {
      batches = []
      const queue = notesQueue()
      const ids = Array.from({ length: 25 }, (_, i) => `a${String(i).padStart(2, '0')}`)
      const answers = await Promise.all(
        ids.map((id) =>
          queue.submit({ id, body: id }).then(async (inserted) => ({
            inserted,
            // Answered: its row is there for anyone to read.
            seen: await stored([id]),
          })),
        ),
      )
      expect(answers).toEqual(ids.map((id) => ({ inserted: true, seen: [id] })))
      // Submitted in one turn of the event loop: by tens, each while the one before was written.
      expect(batches.map((b) => b.length)).toEqual([10, 10, 5])
      expect(batches.flat()).toEqual(ids)
      expect(await stored(ids)).toEqual(ids)
    })

    it('gives a duplicate in the same batch its own result without failing the others', async () => {
      batches = []
      const queue = notesQueue()
      await queue.submit({ id: 'b0', body: 'first' })
      const answers = await Promise.all([
        queue.submit({ id: 'b0', body: 'again' }),
        queue.submit({ id: 'b1', body: 'new' }),
        queue.submit({ id: 'b1', body: 'twice in one batch' }),
      ])
      expect(answers).toEqual([false, true, false])
      const { rows } = await db.query('SELECT id, body FROM notes WHERE id IN ($1, $2) ORDER BY id', [
        'b0',
        'b1',
      ])
      expect(rows).toEqual([
        { id: 'b0', body: 'first' },
        { id: 'b1', body: 'new' },
      ])
    })

    it('writes the items of a failed batch again one at a time: the error goes to its item, the others commit', async () => {
      batches = []
      const queue = notesQueue()
      await queue.submit({ id: 'c0', body: 'ok' })
      const settled = await Promise.allSettled([
        queue.submit({ id: 'c1', body: 'ok' }),
        queue.submit({ id: 'c2', body: 'refused' }),
        queue.submit({ id: 'c3', body: 'ok' }),
      ])
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23514' })
      expect(batches).toEqual([['c0'], ['c1', 'c2', 'c3'], ['c1'], ['c2'], ['c3']])
      // Nothing of the failed item, nothing twice of the others.
      expect(await stored(['c0', 'c1', 'c2', 'c3'])).toEqual(['c0', 'c1', 'c3'])
    })

    it('writes what arrives while a batch is being written in the next batch', async () => {
      const runs: number[][] = []
      let open = () => {}
      const gate = new Promise<void>((resolve) => {
        open = resolve
      })
      const queue = createCommitQueue<number, number>({
        run: async (items) => {
          runs.push([...items])
          await gate
          return items
        },
      })
      const first = queue.submit(1)
      while (runs.length === 0) await new Promise((resolve) => setImmediate(resolve))
      const later = [queue.submit(2), queue.submit(3)]
      expect(runs).toEqual([[1]])
      open()
      expect(await Promise.all([first, ...later])).toEqual([1, 2, 3])
      expect(runs).toEqual([[1], [2, 3]])
    })

    it('runs batches outside the scope of whoever submitted first', async () => {
      const scopes: unknown[] = []
      const queue = createCommitQueue<number, number>({
        run: async (items) => {
          scopes.push(currentScope())
          return items
        },
      })
      const answers = await withScope({ correlationId: 'request-1' }, () =>
        Promise.all([queue.submit(1), queue.submit(2)]),
      )
      expect(answers).toEqual([1, 2])
      expect(scopes).toEqual([undefined])
    })

    it('fails every item of a batch that gives the wrong number of results, and keeps going', async () => {
      let calls = 0
      const queue = createCommitQueue<number, number>({
        run: async (items) => {
          calls++
          return calls === 1 ? [] : items
        },
      })
      await expect(queue.submit(1)).rejects.toThrow('a batch of 1 gave 0 results')
      await expect(queue.submit(2)).resolves.toBe(2)
      await queue.drain()
    })
  })
}
