import type { Envelope } from '@rxt/contracts'
import type { Clock, ContextDb, HandlerContext, Logger, PublishInput, Queryable, Transaction } from '@rxt/kit'
import type { ArchiveSink } from './archive.ts'
import {
  type AuditRecord,
  appendTo,
  type BreakReason,
  type ChainedRecord,
  type ChainHead,
  GENESIS_HASH,
  type JsonValue,
  verifyChain,
} from './domain/chain.ts'
import { signCheckpoint, verifyCheckpoint } from './domain/checkpoint.ts'
import type { SigningKey } from './signing.ts'
import {
  type ArchivedRange,
  appendRecord,
  archivedRanges,
  type CheckpointRow,
  dropPartition,
  ensureMonths,
  heads,
  insertArchivedRange,
  insertCheckpoint,
  listCheckpoints,
  listRecords,
  lockHead,
  partitionsBefore,
  platformTenant,
  type RecordFilter,
  readHead,
  recordsAfter,
  recordsBetween,
  recordsIn,
  tenantsIn,
} from './store.ts'

export interface AuditConfig {
  readonly AUDIT_SIGNING_KEY?: string | undefined
  readonly AUDIT_CHECKPOINT_EVERY: number
  readonly AUDIT_ARCHIVE_AFTER_DAYS: number
  readonly AUDIT_RETAIN_DAYS: number
  readonly AUDIT_ARCHIVE_S3_ENDPOINT?: string | undefined
  readonly AUDIT_ARCHIVE_S3_BUCKET: string
  readonly AUDIT_ARCHIVE_S3_REGION: string
  readonly AUDIT_ARCHIVE_S3_ACCESS_KEY_ID?: string | undefined
  readonly AUDIT_ARCHIVE_S3_SECRET_ACCESS_KEY?: string | undefined
  readonly RXT_DATA_DIR: string
}

export interface AuditDeps {
  readonly db: ContextDb
  readonly log: Logger
  readonly clock: Clock
  readonly key: SigningKey
  /** A checkpoint is signed in the append that makes the chain this many records past the last one. */
  readonly checkpointEvery: number
  /** Publishes in `tx` (the context's outbox). */
  readonly publish: (tx: Transaction, message: PublishInput) => Promise<unknown>
  /** Where records older than `archiveAfterDays` go; none: they stay in the database. */
  readonly archive?: ArchiveSink | undefined
  readonly archiveAfterDays?: number
  /** How long archived objects are kept at least (the retain-until date given to the sink). */
  readonly retainDays?: number
}

export type VerifyAnswer =
  | { ok: true; checked: number }
  | { ok: false; brokenAt: number; reason: BreakReason }

/** The message types the tap records: every event but the checkpoints it publishes itself. */
export const tappedTypes = (types: Iterable<string>): string[] =>
  [...types].filter((type) => type.startsWith('evt.') && type !== 'evt.audit.checkpointed').sort()

const idKeys = /Id$/

/** What a tapped event acted on: the first `…Id` field of its payload, else its ordering key. */
const objectOf = (envelope: Envelope): string => {
  const data = envelope.data
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    for (const [key, value] of Object.entries(data)) {
      if (idKeys.test(key) && typeof value === 'string' && value !== '')
        return `${key}:${value}`.slice(0, 2048)
    }
  }
  return envelope.key ?? envelope.type
}

const payloadOf = (data: unknown): { [key: string]: JsonValue } =>
  typeof data === 'object' && data !== null && !Array.isArray(data)
    ? (data as { [key: string]: JsonValue })
    : { value: data as JsonValue }

/** The record a message makes, before it is chained. */
export function entryOf(
  envelope: Envelope,
  tenant: string,
  at: string,
): Omit<AuditRecord, 'seq'> & { source: string } {
  if (envelope.type === 'evt.request.audited') {
    const data = envelope.data as {
      actor: string
      action: string
      object: string
      requestId: string
      outcome: { status: number; problem: string | null }
    }
    return {
      tenantId: tenant,
      at,
      source: 'http',
      actor: data.actor,
      action: data.action,
      object: data.object,
      outcome:
        data.outcome.problem === null
          ? String(data.outcome.status)
          : `${data.outcome.status} ${data.outcome.problem}`,
      requestId: data.requestId,
      data: payloadOf(envelope.data),
    }
  }
  return {
    tenantId: tenant,
    at,
    source: envelope.type,
    actor: envelope.actor ?? 'platform',
    action: envelope.type,
    object: objectOf(envelope),
    outcome: 'published',
    requestId: envelope.correlationId,
    data: payloadOf(envelope.data),
  }
}

const pageSize = 5000

/** Writes an archive object; one already there from an interrupted run must hold the same bytes. */
async function putOnce(sink: ArchiveSink, key: string, bytes: Uint8Array, retainUntil: Date): Promise<void> {
  const there = await sink.get(key)
  if (there !== undefined) {
    // A checkpoint is signed anew each run: the one kept is as good.
    if (key.endsWith('.checkpoint.json') || Buffer.from(there).equals(Buffer.from(bytes))) return
    throw new Error(`archive object ${key} exists with other contents; the month is left in the database`)
  }
  await sink.put(key, bytes, retainUntil)
}

/** The audit trail: the tap that appends, checkpoints, reads, verification and the CSV export. */
export function createAudit(deps: AuditDeps) {
  const { db, clock, key } = deps

  const sign = async (tx: Transaction, tenant: string, head: ChainHead) => {
    const signed = signCheckpoint(key.privateKey, {
      tenantId: tenant,
      seq: head.seq,
      hash: head.hash,
      at: clock.now().toISOString(),
    })
    const row: CheckpointRow = {
      tenant,
      sequence: signed.seq,
      headHash: signed.hash,
      keyId: key.keyId,
      signature: signed.signature,
      signedAt: signed.at,
    }
    await insertCheckpoint(tx, row)
    await deps.publish(tx, {
      type: 'evt.audit.checkpointed',
      tenantId: tenant === platformTenant ? null : tenant,
      data: {
        sequence: row.sequence,
        headHash: row.headHash,
        keyId: row.keyId,
        signature: Buffer.from(row.signature, 'base64').toString('base64url'),
        signedAt: row.signedAt,
      },
    })
    return row
  }

  /** Appends a message to its tenant's chain, once: a message recorded before appends nothing. */
  const append = async (tx: Transaction, envelope: Envelope): Promise<ChainedRecord | null> => {
    const tenant = envelope.tenantId ?? platformTenant
    const head = await lockHead(tx, tenant, GENESIS_HASH)
    const entry = entryOf(envelope, tenant, clock.now().toISOString())
    const record = appendTo(head.sequence === 0 ? null : { seq: head.sequence, hash: head.hash }, entry)
    if (!(await appendRecord(tx, envelope.id, record, entry.source))) return null
    if (record.seq - head.checkpointed >= deps.checkpointEvery) {
      await sign(tx, tenant, { seq: record.seq, hash: record.hash })
    }
    return record
  }

  /** Signs every chain head that moved since its last checkpoint. */
  const checkpointMoved = async (): Promise<number> => {
    let signed = 0
    for (const moved of (await heads(db)).filter((h) => h.sequence > h.checkpointed)) {
      await db.withTenant(moved.tenant, async (tx) => {
        const head = await lockHead(tx, moved.tenant, GENESIS_HASH)
        if (head.sequence <= head.checkpointed) return
        await sign(tx, moved.tenant, { seq: head.sequence, hash: head.hash })
        signed++
      })
    }
    return signed
  }

  /** The latest checkpoint of the tenant whose signature holds under this key; undefined: none. */
  const trustedCheckpoint = async (tx: Queryable, tenant: string): Promise<CheckpointRow | undefined> => {
    for (const checkpoint of await listCheckpoints(tx, tenant, 20)) {
      if (checkpoint.keyId !== key.keyId) continue
      const holds = verifyCheckpoint(key.publicKey, {
        tenantId: tenant,
        seq: checkpoint.sequence,
        hash: checkpoint.headHash,
        at: checkpoint.signedAt,
        signature: checkpoint.signature,
      })
      if (holds) return checkpoint
    }
    return undefined
  }

  const loaded = new Map<string, ChainedRecord[]>()
  /** An archived range's records, as the archive holds them (a changed byte there fails verify). */
  const archivedRecords = async (range: ArchivedRange): Promise<ChainedRecord[]> => {
    const cached = loaded.get(range.archiveKey)
    if (cached !== undefined) return cached
    const bytes = deps.archive === undefined ? undefined : await deps.archive.get(range.archiveKey)
    const records =
      bytes === undefined
        ? []
        : new TextDecoder()
            .decode(bytes)
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as ChainedRecord)
    if (loaded.size > 8) loaded.clear()
    loaded.set(range.archiveKey, records)
    return records
  }

  /** The next records after `last` (up to `to`): from the archive where the range was archived. */
  const pageAfter = async (
    tx: Queryable,
    tenant: string,
    ranges: readonly ArchivedRange[],
    last: number,
    to: number,
  ): Promise<ChainedRecord[]> => {
    const range = ranges.find((r) => r.firstSequence <= last + 1 && last + 1 <= r.lastSequence)
    if (range === undefined) return recordsAfter(tx, tenant, last, to, pageSize)
    return (await archivedRecords(range)).filter((r) => r.seq > last && r.seq <= to).slice(0, pageSize)
  }

  /**
   * Verifies the tenant's chain from sequence `from` to `to` (default: all of it), page by page: every
   * link, no gap, and no tail cut off short of the last signed checkpoint (or of the chain head).
   */
  const verify = async (
    tenant: string,
    range: { from?: number; to?: number } = {},
  ): Promise<VerifyAnswer> => {
    // Each page is read in a transaction of its own: a long walk holds no connection (on PGlite, every
    // context's one) for its whole length. Records appended meanwhile lie past `to`.
    const read = <T>(fn: (tx: Transaction) => Promise<T>) => db.withTenant(tenant, fn)
    const { head, checkpoint, ranges } = await read(async (tx) => ({
      head: await readHead(tx, tenant),
      checkpoint: await trustedCheckpoint(tx, tenant),
      ranges: await archivedRanges(tx, tenant),
    }))
    const known = Math.max(head?.sequence ?? 0, checkpoint?.sequence ?? 0)
    const to = range.to === undefined ? known : Math.min(range.to, known)
    const from = Math.max(range.from ?? 1, 1)
    let start: ChainHead | undefined
    if (from > 1) {
      const before = (await read((tx) => pageAfter(tx, tenant, ranges, from - 2, from - 1)))[0]
      if (before === undefined) return { ok: false, brokenAt: from - 1, reason: 'gap' }
      start = { seq: before.seq, hash: before.hash }
    }
    let checked = 0
    let last = start?.seq ?? from - 1
    let hashAtCheckpoint: string | undefined
    while (last < to) {
      const after = last
      const page = await read((tx) => pageAfter(tx, tenant, ranges, after, to))
      if (page.length === 0) break
      const result = verifyChain(page, start === undefined ? {} : { start })
      if (!result.ok) return result
      checked += page.length
      const tail = page.at(-1) as ChainedRecord
      if (checkpoint !== undefined) {
        const there = page.find((r) => r.seq === checkpoint.sequence)
        if (there !== undefined) hashAtCheckpoint = there.hash
      }
      start = { seq: tail.seq, hash: tail.hash }
      last = tail.seq
    }
    if (last < to) return { ok: false, brokenAt: last + 1, reason: 'truncated' }
    if (
      checkpoint !== undefined &&
      hashAtCheckpoint !== undefined &&
      hashAtCheckpoint !== checkpoint.headHash
    ) {
      return { ok: false, brokenAt: checkpoint.sequence, reason: 'truncated' }
    }
    return { ok: true, checked }
  }

  /**
   * Moves every month older than the archive age to the archive: per tenant one JSON Lines object of
   * its records there (`<tenant>/<first>-<last>.jsonl`) and the signed checkpoint of its last record
   * (`….checkpoint.json`), then the month's partition is dropped. Verify reads archived ranges back.
   */
  const archiveOld = async (): Promise<{ partitions: string[] }> => {
    const sink = deps.archive
    if (sink === undefined) return { partitions: [] }
    const now = clock.now()
    const cutoff = new Date(now.getTime() - (deps.archiveAfterDays ?? 90) * 86_400_000)
    const retainUntil = new Date(now.getTime() + (deps.retainDays ?? 2557) * 86_400_000)
    const done: string[] = []
    for (const partition of await partitionsBefore(db, cutoff)) {
      for (const tenant of await tenantsIn(db, partition)) {
        await db.withTenant(tenant, async (tx) => {
          const records = await recordsIn(tx, partition, tenant)
          const first = records[0]
          const last = records.at(-1)
          if (first === undefined || last === undefined) return
          const base = `${tenant}/${first.seq}-${last.seq}`
          const signed = signCheckpoint(deps.key.privateKey, {
            tenantId: tenant,
            seq: last.seq,
            hash: last.hash,
            at: now.toISOString(),
          })
          const lines = `${records.map((r) => JSON.stringify(r)).join('\n')}\n`
          await putOnce(sink, `${base}.jsonl`, new TextEncoder().encode(lines), retainUntil)
          await putOnce(
            sink,
            `${base}.checkpoint.json`,
            new TextEncoder().encode(
              `${JSON.stringify({ ...signed, keyId: deps.key.keyId, publicKey: deps.key.publicKeySpki })}\n`,
            ),
            retainUntil,
          )
          await insertArchivedRange(tx, tenant, {
            firstSequence: first.seq,
            lastSequence: last.seq,
            archiveKey: `${base}.jsonl`,
          })
        })
      }
      await dropPartition(db, partition)
      deps.log.info({ partition }, 'audit month archived')
      done.push(partition)
    }
    return { partitions: done }
  }

  return {
    append,
    archiveOld,
    /** The bus handler's side: the message's record in the handler's transaction. */
    tap: (envelope: Envelope, context: HandlerContext) => append(context.tx, envelope).then(() => undefined),
    checkpointMoved,
    verify,
    list: (tenant: string, filter: RecordFilter, limit: number) =>
      db.withTenant(tenant, (tx) => listRecords(tx, tenant, filter, limit)),
    checkpoints: (tenant: string, limit: number) =>
      db.withTenant(tenant, (tx) => listCheckpoints(tx, tenant, limit)),
    /** Pages of the tenant's records in sequence order, within [from, to) of recorded time. */
    async *pages(tenant: string, range: { from?: string; to?: string }): AsyncGenerator<ChainedRecord[]> {
      let after = 0
      for (;;) {
        const page = await db.withTenant(tenant, (tx) => recordsBetween(tx, tenant, after, range, pageSize))
        if (page.length === 0) return
        yield page
        after = (page.at(-1) as ChainedRecord).seq
      }
    },
    /** Monthly partitions made ahead: this month and the next two. */
    ensurePartitions: () => ensureMonths(db, 2),
    publicKey: () => ({ keyId: key.keyId, spki: key.publicKeySpki, pem: key.publicKeyPem }),
  }
}
export type Audit = ReturnType<typeof createAudit>
