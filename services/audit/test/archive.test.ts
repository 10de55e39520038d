// Months older than the archive age move to read-only files with their checkpoint, leave the database,
// and stay verifiable: verify reads the archived range back (and finds a byte changed there).
import { randomUUID } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Envelope } from '@rxt/contracts'
import { type ContextDb, createLogger, loadMigrations } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyCheckpoint } from '../src/domain/checkpoint.ts'
import { type Audit, createAudit, filesystemArchive } from '../src/index.ts'
import { ephemeralSigningKey } from '../src/signing.ts'

const tenant = 'c3d4e5f6-0718-4293-a4b5-c6d7e8f90a1b'
const day = 86_400_000

const envelope = (i: number): Envelope => ({
  id: randomUUID(),
  type: 'evt.obs.annotated',
  version: 1,
  time: new Date().toISOString(),
  tenantId: tenant,
  correlationId: `corr-${i}`,
  causationId: null,
  idempotencyKey: `k-${i}`,
  data: { annotationId: `ann_${i}`, text: `note ${i}` },
})

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`the audit archive on ${target.name}`, () => {
    let handle: TestDatabase
    let db: ContextDb
    let dir: string
    let audit: Audit
    const key = ephemeralSigningKey()
    let now = new Date(Date.now() - 200 * day)

    beforeAll(async () => {
      handle = await target.create()
      dir = await mkdtemp(join(tmpdir(), 'rxt-audit-archive-'))
      db = await handle.database.openContext(
        'audit',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
      )
      audit = createAudit({
        db,
        log: createLogger({ level: 'silent' }),
        clock: { now: () => now },
        key,
        checkpointEvery: 1000,
        publish: async () => undefined,
        archive: filesystemArchive(dir),
        archiveAfterDays: 90,
      })
      // Ten records in a month long past (its partition made, as the job makes them ahead), five today.
      const month = `${now.toISOString().slice(0, 7)}-01`
      await db.query('SELECT audit_ensure_month($1::date)', [month])
      for (let i = 1; i <= 10; i++) await db.transaction((tx) => audit.append(tx, envelope(i)))
      now = new Date()
      for (let i = 11; i <= 15; i++) await db.transaction((tx) => audit.append(tx, envelope(i)))
    })
    afterAll(async () => {
      await handle?.dispose()
      await rm(dir, { recursive: true, force: true })
    })

    it('moves the old month to read-only files with its checkpoint, and verify still covers it', async () => {
      const { partitions } = await audit.archiveOld()
      expect(partitions).toHaveLength(1)
      // The old records left the database; today's stayed.
      expect((await audit.list(tenant, {}, 100)).map((r) => r.seq)).toEqual([15, 14, 13, 12, 11])
      const file = join(dir, tenant, '1-10.jsonl')
      expect((await stat(file)).mode & 0o777).toBe(0o444)
      const lines = (await readFile(file, 'utf8')).trim().split('\n')
      expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      const checkpoint = JSON.parse(await readFile(join(dir, tenant, '1-10.checkpoint.json'), 'utf8'))
      expect(checkpoint.seq).toBe(10)
      expect(checkpoint.hash).toBe(JSON.parse(lines[9] as string).hash)
      expect(verifyCheckpoint(key.publicKey, checkpoint)).toBe(true)
      expect(await audit.verify(tenant)).toEqual({ ok: true, checked: 15 })
      expect(await audit.verify(tenant, { from: 5, to: 12 })).toEqual({ ok: true, checked: 8 })
      // A second run finds nothing more to move.
      expect((await audit.archiveOld()).partitions).toEqual([])
    })

    it('finds a record changed in the archive', async () => {
      const file = join(dir, tenant, '1-10.jsonl')
      const text = await readFile(file, 'utf8')
      await chmod(file, 0o644)
      await writeFile(file, text.replace('note 4', 'note 5'))
      // A fresh reader (nothing cached) over the same database and archive.
      const reader = createAudit({
        db,
        log: createLogger({ level: 'silent' }),
        clock: { now: () => new Date() },
        key,
        checkpointEvery: 1000,
        publish: async () => undefined,
        archive: filesystemArchive(dir),
      })
      expect(await reader.verify(tenant)).toEqual({ ok: false, brokenAt: 4, reason: 'hash-mismatch' })
      await writeFile(file, text)
      await chmod(file, 0o444)
    })

    it('refuses archive keys that leave the archive, and writes an object only once', async () => {
      const sink = filesystemArchive(dir)
      await expect(sink.put('../escape', new Uint8Array([1]), new Date())).rejects.toThrow(/safe names/)
      await expect(sink.put(`${tenant}/1-10.jsonl`, new Uint8Array([1]), new Date())).rejects.toThrow(
        /written once/,
      )
    })
  })
}
