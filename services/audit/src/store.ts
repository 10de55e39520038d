import type { Queryable } from '@rxt/kit'
import type { ChainedRecord, JsonValue } from './domain/chain.ts'

/** The tenant of the platform's own trail (organisation ids are UUIDs: never this). */
export const platformTenant = '_platform'

export interface HeadRow {
  readonly sequence: number
  readonly hash: string
  readonly checkpointed: number
}

export interface CheckpointRow {
  readonly tenant: string
  readonly sequence: number
  readonly headHash: string
  readonly keyId: string
  readonly signature: string
  readonly signedAt: string
}

type RecordRow = {
  tenant: string
  sequence: string | number
  recorded_at: Date | string
  source: string
  actor: string
  action: string
  object: string
  request_id: string | null
  outcome: string
  data: { [key: string]: JsonValue } | null
  prev_hash: string
  hash: string
}

const columns =
  'tenant, sequence, recorded_at, source, actor, action, object, request_id, outcome, data, prev_hash, hash'

export const recordOf = (row: RecordRow): ChainedRecord => ({
  tenantId: row.tenant,
  seq: Number(row.sequence),
  at: new Date(row.recorded_at).toISOString(),
  actor: row.actor,
  action: row.action,
  object: row.object,
  outcome: row.outcome,
  requestId: row.request_id,
  source: row.source,
  ...(row.data === null ? {} : { data: row.data }),
  prevHash: row.prev_hash,
  hash: row.hash,
})

/**
 * Acts as the tenant (row-level security) for the rest of the transaction and returns its chain head,
 * created empty when missing, locked until the transaction ends. One statement.
 */
export async function lockHead(tx: Queryable, tenant: string, genesis: string): Promise<HeadRow> {
  const { rows } = await tx.query<{ sequence: string; hash: string; checkpointed: string }>(
    `WITH acting AS (SELECT set_config('rxt.tenant_id', $1, true) AS tenant)
     INSERT INTO chain_heads (tenant, sequence, hash) SELECT acting.tenant, 0, $2 FROM acting
     ON CONFLICT (tenant) DO UPDATE SET tenant = EXCLUDED.tenant
     RETURNING sequence, hash, checkpointed`,
    [tenant, genesis],
  )
  const row = rows[0] as { sequence: string; hash: string; checkpointed: string }
  return { sequence: Number(row.sequence), hash: row.hash, checkpointed: Number(row.checkpointed) }
}

/**
 * Appends the record of a message unless the message was recorded before (false then): claims the
 * message id, writes the record and moves the head, in one statement.
 */
export async function appendRecord(
  tx: Queryable,
  messageId: string,
  record: ChainedRecord,
  source: string,
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `WITH claimed AS (
       INSERT INTO recorded_messages (message_id, tenant, sequence) VALUES ($13, $1, $2)
       ON CONFLICT DO NOTHING RETURNING message_id
     ), appended AS (
       INSERT INTO audit_records (${columns})
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM claimed
     )
     UPDATE chain_heads SET sequence = $2, hash = $12, updated_at = now()
      WHERE tenant = $1 AND EXISTS (SELECT 1 FROM claimed)`,
    [
      record.tenantId,
      record.seq,
      record.at,
      source,
      record.actor,
      record.action,
      record.object,
      record.requestId,
      record.outcome,
      record.data === undefined ? null : JSON.stringify(record.data),
      record.prevHash,
      record.hash,
      messageId,
    ],
  )
  return rowCount > 0
}

/** Records of the tenant with sequence in (after, upTo], in sequence order, at most `limit`. */
export async function recordsAfter(
  tx: Queryable,
  tenant: string,
  after: number,
  upTo: number,
  limit: number,
): Promise<ChainedRecord[]> {
  const { rows } = await tx.query<RecordRow>(
    `SELECT ${columns} FROM audit_records
      WHERE tenant = $1 AND sequence > $2 AND sequence <= $3
      ORDER BY sequence LIMIT $4`,
    [tenant, after, upTo, limit],
  )
  return rows.map(recordOf)
}

/** Records of the tenant after a sequence, recorded within [from, to), in sequence order. */
export async function recordsBetween(
  tx: Queryable,
  tenant: string,
  after: number,
  range: { readonly from?: string; readonly to?: string },
  limit: number,
): Promise<ChainedRecord[]> {
  const { rows } = await tx.query<RecordRow>(
    `SELECT ${columns} FROM audit_records
      WHERE tenant = $1 AND sequence > $2
        AND ($3::timestamptz IS NULL OR recorded_at >= $3) AND ($4::timestamptz IS NULL OR recorded_at < $4)
      ORDER BY sequence LIMIT $5`,
    [tenant, after, range.from ?? null, range.to ?? null, limit],
  )
  return rows.map(recordOf)
}

export interface RecordFilter {
  readonly object?: string
  readonly actor?: string
  readonly action?: string
  readonly from?: string
  readonly to?: string
  /** Records below this sequence (the previous page's last). */
  readonly before?: number
}

/** A page of the tenant's records, newest (highest sequence) first. */
export async function listRecords(
  tx: Queryable,
  tenant: string,
  filter: RecordFilter,
  limit: number,
): Promise<ChainedRecord[]> {
  const where = ['tenant = $1']
  const params: unknown[] = [tenant]
  const add = (sql: string, value: unknown) => {
    params.push(value)
    where.push(sql.replace('?', `$${params.length}`))
  }
  if (filter.object !== undefined) add('object = ?', filter.object)
  if (filter.actor !== undefined) add('actor = ?', filter.actor)
  if (filter.action !== undefined) add('action = ?', filter.action)
  if (filter.from !== undefined) add('recorded_at >= ?', filter.from)
  if (filter.to !== undefined) add('recorded_at < ?', filter.to)
  if (filter.before !== undefined) add('sequence < ?', filter.before)
  params.push(limit)
  const { rows } = await tx.query<RecordRow>(
    `SELECT ${columns} FROM audit_records WHERE ${where.join(' AND ')} ORDER BY sequence DESC LIMIT $${params.length}`,
    params,
  )
  return rows.map(recordOf)
}

/** Every tenant with records, and its head. */
export async function heads(db: Queryable): Promise<(HeadRow & { tenant: string })[]> {
  const { rows } = await db.query<{ tenant: string; sequence: string; hash: string; checkpointed: string }>(
    'SELECT tenant, sequence, hash, checkpointed FROM chain_heads WHERE sequence > 0 ORDER BY tenant',
  )
  return rows.map((r) => ({
    tenant: r.tenant,
    sequence: Number(r.sequence),
    hash: r.hash,
    checkpointed: Number(r.checkpointed),
  }))
}

export async function readHead(tx: Queryable, tenant: string): Promise<HeadRow | undefined> {
  const { rows } = await tx.query<{ sequence: string; hash: string; checkpointed: string }>(
    'SELECT sequence, hash, checkpointed FROM chain_heads WHERE tenant = $1',
    [tenant],
  )
  const row = rows[0]
  return row === undefined
    ? undefined
    : { sequence: Number(row.sequence), hash: row.hash, checkpointed: Number(row.checkpointed) }
}

export async function insertCheckpoint(tx: Queryable, checkpoint: CheckpointRow): Promise<void> {
  await tx.query(
    `INSERT INTO checkpoints (tenant, sequence, head_hash, key_id, signature, signed_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [
      checkpoint.tenant,
      checkpoint.sequence,
      checkpoint.headHash,
      checkpoint.keyId,
      checkpoint.signature,
      checkpoint.signedAt,
    ],
  )
  await tx.query('UPDATE chain_heads SET checkpointed = $2 WHERE tenant = $1 AND checkpointed < $2', [
    checkpoint.tenant,
    checkpoint.sequence,
  ])
}

/** The tenant's checkpoints, newest first. */
export async function listCheckpoints(
  tx: Queryable,
  tenant: string,
  limit: number,
): Promise<CheckpointRow[]> {
  const { rows } = await tx.query<{
    tenant: string
    sequence: string
    head_hash: string
    key_id: string
    signature: string
    signed_at: Date | string
  }>(
    `SELECT tenant, sequence, head_hash, key_id, signature, signed_at FROM checkpoints
      WHERE tenant = $1 ORDER BY sequence DESC LIMIT $2`,
    [tenant, limit],
  )
  return rows.map((r) => ({
    tenant: r.tenant,
    sequence: Number(r.sequence),
    headHash: r.head_hash,
    keyId: r.key_id,
    signature: r.signature,
    signedAt: new Date(r.signed_at).toISOString(),
  }))
}

/** Makes the monthly partitions from this month to `monthsAhead` on; a month that cannot be made is reported. */
export async function ensureMonths(
  db: Queryable,
  monthsAhead: number,
): Promise<{ made: string[]; failed: string[] }> {
  const made: string[] = []
  const failed: string[] = []
  for (let i = 0; i <= monthsAhead; i++) {
    const { rows } = await db.query<{ month: string }>(
      "SELECT to_char(date_trunc('month', now()) + make_interval(months => $1), 'YYYY-MM-DD') AS month",
      [i],
    )
    const month = (rows[0] as { month: string }).month
    try {
      const created = await db.query<{ made: boolean }>('SELECT audit_ensure_month($1::date) AS made', [
        month,
      ])
      if (created.rows[0]?.made === true) made.push(month)
    } catch {
      // Its records already fell into the default partition: they stay there, still in the chain.
      failed.push(month)
    }
  }
  return { made, failed }
}

export interface ArchivedRange {
  readonly firstSequence: number
  readonly lastSequence: number
  readonly archiveKey: string
}

export async function archivedRanges(tx: Queryable, tenant: string): Promise<ArchivedRange[]> {
  const { rows } = await tx.query<{ first_sequence: string; last_sequence: string; archive_key: string }>(
    'SELECT first_sequence, last_sequence, archive_key FROM archived_ranges WHERE tenant = $1 ORDER BY first_sequence',
    [tenant],
  )
  return rows.map((r) => ({
    firstSequence: Number(r.first_sequence),
    lastSequence: Number(r.last_sequence),
    archiveKey: r.archive_key,
  }))
}

export async function insertArchivedRange(
  tx: Queryable,
  tenant: string,
  range: ArchivedRange,
): Promise<void> {
  await tx.query(
    `INSERT INTO archived_ranges (tenant, first_sequence, last_sequence, archive_key) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [tenant, range.firstSequence, range.lastSequence, range.archiveKey],
  )
}

const monthPartition = /^audit_records_(\d{4})_(\d{2})$/

/** The monthly partitions whose whole month ended before `cutoff`, oldest first. */
export async function partitionsBefore(db: Queryable, cutoff: Date): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'audit_records'::regclass ORDER BY c.relname`,
  )
  return rows
    .map((r) => r.name)
    .filter((name) => {
      const m = monthPartition.exec(name)
      if (m === null) return false
      const end = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1))
      return end.getTime() <= cutoff.getTime()
    })
}

const partitionName = (name: string): string => {
  if (!monthPartition.test(name)) throw new Error(`${name} is not a monthly partition of audit_records`)
  return name
}

/** The tenants with records in a partition. */
export async function tenantsIn(db: Queryable, partition: string): Promise<string[]> {
  const { rows } = await db.query<{ tenant: string }>(
    `SELECT DISTINCT tenant FROM "${partitionName(partition)}" ORDER BY tenant`,
  )
  return rows.map((r) => r.tenant)
}

/** A tenant's records in one partition, in sequence order. */
export async function recordsIn(tx: Queryable, partition: string, tenant: string): Promise<ChainedRecord[]> {
  const { rows } = await tx.query<RecordRow>(
    `SELECT ${columns} FROM "${partitionName(partition)}" WHERE tenant = $1 ORDER BY sequence`,
    [tenant],
  )
  return rows.map(recordOf)
}

/** Detaches an archived month and drops it: records leave by whole partitions only. */
export async function dropPartition(db: Queryable, partition: string): Promise<void> {
  const name = partitionName(partition)
  await db.query(`ALTER TABLE audit_records DETACH PARTITION "${name}"`)
  await db.query(`DROP TABLE "${name}"`)
}
