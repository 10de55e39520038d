import type { Envelope } from '@rxt/contracts'
import type { Clock, ContextDb, HandlerContext, Logger, PublishInput, Queryable, Transaction } from '@rxt/kit'
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
  actAs,
  type CheckpointRow,
  claimMessage,
  ensureMonths,
  heads,
  insertCheckpoint,
  insertRecord,
  listCheckpoints,
  listRecords,
  lockHead,
  platformTenant,
  type RecordFilter,
  readHead,
  recordsAfter,
  recordsBetween,
} from './store.ts'

export interface AuditConfig {
  readonly AUDIT_SIGNING_KEY?: string | undefined
  readonly AUDIT_CHECKPOINT_EVERY: number
  readonly AUDIT_ARCHIVE_AFTER_DAYS: number
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
    await actAs(tx, tenant)
    const head = await lockHead(tx, tenant, GENESIS_HASH)
    if (!(await claimMessage(tx, envelope.id, tenant, head.sequence + 1))) return null
    const entry = entryOf(envelope, tenant, clock.now().toISOString())
    const record = appendTo(head.sequence === 0 ? null : { seq: head.sequence, hash: head.hash }, entry)
    await insertRecord(tx, record, entry.source)
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

  /**
   * Verifies the tenant's chain from sequence `from` to `to` (default: all of it), page by page: every
   * link, no gap, and no tail cut off short of the last signed checkpoint (or of the chain head).
   */
  const verify = (tenant: string, range: { from?: number; to?: number } = {}): Promise<VerifyAnswer> =>
    db.withTenant(tenant, async (tx) => {
      const head = await readHead(tx, tenant)
      const checkpoint = await trustedCheckpoint(tx, tenant)
      const known = Math.max(head?.sequence ?? 0, checkpoint?.sequence ?? 0)
      const to = range.to === undefined ? known : Math.min(range.to, known)
      const from = Math.max(range.from ?? 1, 1)
      let start: ChainHead | undefined
      if (from > 1) {
        const before = (await recordsAfter(tx, tenant, from - 2, from - 1, 1))[0]
        if (before === undefined) return { ok: false, brokenAt: from - 1, reason: 'gap' }
        start = { seq: before.seq, hash: before.hash }
      }
      let checked = 0
      let last = start?.seq ?? from - 1
      let hashAtCheckpoint: string | undefined
      while (last < to) {
        const page = await recordsAfter(tx, tenant, last, to, pageSize)
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
    })

  return {
    append,
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
