// The audit archive on the S3 peer (SeaweedFS with Object Lock, tools/peers): the old month goes to
// objects written once and locked in COMPLIANCE mode until the retain-until date (that a locked version
// cannot be removed is src/archive/s3.test.ts's), leaves the database, and verify reads it back. Skipped where the peer is not built (SKIPPED printed; CI=true fails).
import { randomUUID } from 'node:crypto'
import { GetObjectRetentionCommand, S3Client } from '@aws-sdk/client-s3'
import type { Envelope } from '@rxt/contracts'
import { type ContextDb, createLogger, loadMigrations } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { type Audit, createAudit, s3Archive } from '../src/index.ts'
import { ephemeralSigningKey } from '../src/signing.ts'

const endpoint = inject('s3Endpoint')
const region = inject('s3Region')
const credentials = { accessKeyId: inject('s3AccessKeyId'), secretAccessKey: inject('s3SecretAccessKey') }
const skipped = inject('s3SkipReason') !== '' || endpoint === ''
const tenant = 'd4e5f6a7-0819-4a3b-b5c6-d7e8f9a0b1c2'
const day = 86_400_000
const [pglite] = dbTargets()

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

describe.skipIf(skipped)('the audit archive on S3 with Object Lock', () => {
  let handle: TestDatabase
  let db: ContextDb
  let audit: Audit
  const bucket = `rxt-audit-${randomUUID().slice(0, 8)}`
  let now = new Date(Date.now() - 200 * day)

  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
    db = await handle.database.openContext(
      'audit',
      await loadMigrations(new URL('../migrations/', import.meta.url)),
    )
    audit = createAudit({
      db,
      log: createLogger({ level: 'silent' }),
      clock: { now: () => now },
      key: ephemeralSigningKey(),
      checkpointEvery: 1000,
      publish: async () => undefined,
      archive: s3Archive({ endpoint, region, credentials, bucket }),
      archiveAfterDays: 90,
      retainDays: 30,
    })
    await db.query('SELECT audit_ensure_month($1::date)', [`${now.toISOString().slice(0, 7)}-01`])
    for (let i = 1; i <= 6; i++) await db.transaction((tx) => audit.append(tx, envelope(i)))
    now = new Date()
    for (let i = 7; i <= 8; i++) await db.transaction((tx) => audit.append(tx, envelope(i)))
  })
  afterAll(async () => {
    await handle?.dispose()
  })

  it('moves the old month to locked objects, and verify reads them back', async () => {
    const { partitions } = await audit.archiveOld()
    expect(partitions).toHaveLength(1)
    expect((await audit.list(tenant, {}, 100)).map((r) => r.seq)).toEqual([8, 7])
    expect(await audit.verify(tenant)).toEqual({ ok: true, checked: 8 })
    const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true })
    const retention = await client.send(
      new GetObjectRetentionCommand({ Bucket: bucket, Key: `${tenant}/1-6.jsonl` }),
    )
    expect(retention.Retention?.Mode).toBe('COMPLIANCE')
    expect((retention.Retention?.RetainUntilDate as Date).getTime()).toBeGreaterThan(Date.now() + 29 * day)
    client.destroy()
  })
})
