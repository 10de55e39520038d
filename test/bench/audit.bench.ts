// The audit trail's costs, measured in one run on one database:
//   appends/s through the context (message claimed, head locked, record chained and inserted) against
//   plain INSERTs of the same rows into a table with no chain, trigger or partitions, one transaction
//   each in both;
//   verify of BENCH_VERIFY_RECORDS (1,000,000) records read from the database, against hashing the same
//   records in memory with no database.
// On PostgreSQL (RXT_TEST_POSTGRES_URL) when it answers, else on PGlite.
import { randomUUID } from 'node:crypto'
import { createAudit, parseSigningKey } from '@rxt/audit'
import type { Envelope } from '@rxt/contracts'
import { createLogger, type Database, loadMigrations, openDatabase, systemClock } from '@rxt/kit'
import { createFreshPostgres } from '@rxt/kit/testing'
import { appendTo, type ChainedRecord, verifyChain } from '../../services/audit/src/domain/chain.ts'

const postgresUrl = process.env.RXT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const appends = Number(process.env.BENCH_APPENDS ?? 5_000)
const verifyRecords = Number(process.env.BENCH_VERIFY_RECORDS ?? 1_000_000)
const log = createLogger({ level: 'warn' })
const tenant = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d'
const bulkTenant = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9'

const envelope = (i: number): Envelope => ({
  id: randomUUID(),
  type: 'evt.obs.annotated',
  version: 1,
  time: new Date().toISOString(),
  tenantId: tenant,
  correlationId: `corr-${i}`,
  causationId: null,
  idempotencyKey: `k-${i}`,
  data: { annotationId: `ann_${i}`, envId: 'env_prod', text: `Deployed build ${i}`, tags: ['deploy'] },
})

let database: Database
let drop: (() => Promise<void>) | undefined
try {
  const fresh = await createFreshPostgres(postgresUrl)
  database = await openDatabase({ kind: 'postgres', url: fresh.url, poolMax: 4 }, log)
  drop = fresh.drop
  console.log('database: PostgreSQL')
} catch {
  database = await openDatabase({ kind: 'pglite' }, log)
  console.log('database: PGlite (PostgreSQL did not answer)')
}
const db = await database.openContext(
  'audit',
  await loadMigrations(new URL('../../services/audit/migrations/', import.meta.url)),
)
const audit = createAudit({
  db,
  log,
  clock: systemClock,
  key: parseSigningKey(Buffer.alloc(32, 7).toString('base64url')),
  checkpointEvery: 1000,
  publish: async () => undefined,
})

// 1. Appends through the context, then the same rows as plain INSERTs.
const started = performance.now()
const made: ChainedRecord[] = []
for (let i = 0; i < appends; i++) {
  const record = await db.transaction((tx) => audit.append(tx, envelope(i)))
  if (record !== null) made.push(record)
}
const chainedSeconds = (performance.now() - started) / 1000
await db.query(
  `CREATE TABLE plain_records (tenant text, sequence bigint, recorded_at timestamptz, source text, actor text,
     action text, object text, request_id text, outcome text, data jsonb, prev_hash text, hash text)`,
)
const plainStarted = performance.now()
for (const r of made) {
  await db.transaction((tx) =>
    tx.query('INSERT INTO plain_records VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)', [
      r.tenantId,
      r.seq,
      r.at,
      r.source,
      r.actor,
      r.action,
      r.object,
      r.requestId,
      r.outcome,
      JSON.stringify(r.data),
      r.prevHash,
      r.hash,
    ]),
  )
}
const plainSeconds = (performance.now() - plainStarted) / 1000
const chainedRate = appends / chainedSeconds
const plainRate = appends / plainSeconds
console.log(
  `appends: ${chainedRate.toFixed(0)}/s through the context, ${plainRate.toFixed(0)}/s plain INSERTs (ratio ${(chainedRate / plainRate).toFixed(2)})`,
)

// 2. Verify of a long chain: built in memory, written in bulk, read back and verified.
const records: ChainedRecord[] = []
const at = new Date().toISOString()
for (let i = 1; i <= verifyRecords; i++) {
  const last = records.at(-1)
  records.push(
    appendTo(last === undefined ? null : { seq: last.seq, hash: last.hash }, {
      tenantId: bulkTenant,
      at,
      source: 'evt.obs.annotated',
      actor: 'user:bench',
      action: 'evt.obs.annotated',
      object: `annotationId:ann_${i}`,
      outcome: 'published',
      requestId: `corr-${i}`,
      data: { annotationId: `ann_${i}`, envId: 'env_prod', text: `Deployed build ${i}`, tags: ['deploy'] },
    }),
  )
}
const batch = 10_000
for (let i = 0; i < records.length; i += batch) {
  const rows = records.slice(i, i + batch)
  await db.withTenant(bulkTenant, (tx) =>
    tx.query(
      `INSERT INTO audit_records (tenant, sequence, recorded_at, source, actor, action, object, request_id, outcome, data, prev_hash, hash)
       SELECT $1, s, $2, r.source, r.actor, r.action, r.object, r.request_id, r.outcome, r.data, r.prev_hash, r.hash
         FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[])
              AS r(s, source, actor, action, object, request_id, outcome, data, prev_hash, hash)`,
      [
        bulkTenant,
        at,
        rows.map((r) => r.seq),
        rows.map((r) => r.source),
        rows.map((r) => r.actor),
        rows.map((r) => r.action),
        rows.map((r) => r.object),
        rows.map((r) => r.requestId),
        rows.map((r) => r.outcome),
        rows.map((r) => JSON.stringify(r.data)),
        rows.map((r) => r.prevHash),
        rows.map((r) => r.hash),
      ],
    ),
  )
}
const last = records.at(-1) as ChainedRecord
await db.query('INSERT INTO chain_heads (tenant, sequence, hash) VALUES ($1, $2, $3)', [
  bulkTenant,
  last.seq,
  last.hash,
])
const verifyStarted = performance.now()
const verified = await audit.verify(bulkTenant)
const verifySeconds = (performance.now() - verifyStarted) / 1000
const memoryStarted = performance.now()
const inMemory = verifyChain(records)
const memorySeconds = (performance.now() - memoryStarted) / 1000
console.log(
  `verify of ${verifyRecords} records: ${verifySeconds.toFixed(2)} s from the database (${JSON.stringify(verified)}), ${memorySeconds.toFixed(2)} s hashing the same records in memory (${JSON.stringify(inMemory)}; ratio ${(verifySeconds / memorySeconds).toFixed(2)})`,
)

await database.close()
await drop?.()
