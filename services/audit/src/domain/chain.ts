import { createHash } from 'node:crypto'

/** The previous hash of the first record in a tenant's chain: 64 hex zeros. */
export const GENESIS_HASH = '0'.repeat(64)

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

export interface AuditRecord {
  tenantId: string
  seq: number
  at: string
  actor: string
  action: string
  object: string
  outcome: string
  requestId: string | null
  /** Where the record came from (`http`, or the event type a tap heard); hashed when present. */
  source?: string
  data?: { [key: string]: JsonValue }
}

export type ChainedRecord = AuditRecord & { prevHash: string; hash: string }

export interface ChainHead {
  seq: number
  hash: string
}

export type BreakReason = 'hash-mismatch' | 'gap' | 'out-of-order' | 'prev-mismatch' | 'truncated'

export type VerifyResult =
  | { ok: true; checked: number }
  | { ok: false; brokenAt: number; reason: BreakReason }

export interface VerifyOptions {
  /** The verified record just before the first one given (for verifying a window of the chain). */
  start?: ChainHead
  /** A trusted (e.g. signed) head; the records must reach it and agree with it. */
  checkpoint?: ChainHead
}

const HEX_HASH = /^[0-9a-f]{64}$/

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * RFC 8785 canonical JSON (the manifests' own form: keys sorted, no whitespace) of a JSON value, the
 * value checked as it is written (one walk; the same text as `canonical` of @rxt/contracts, which a
 * property test holds it to).
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot hold the number ${value}`)
      return JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return `${out}]`
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort()
    let out = '{'
    let first = true
    for (const key of keys) {
      const item = value[key]
      if (item === undefined) continue
      out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`
      first = false
    }
    return `${out}}`
  }
  throw new TypeError(`canonical JSON cannot hold a value of type ${typeof value}`)
}

const text = (name: string, value: unknown): string => {
  if (typeof value !== 'string') throw new TypeError(`an audit record's ${name} must be a string`)
  return JSON.stringify(value)
}

/**
 * The canonical JSON of an audit record: only the record's own fields (never prevHash or hash), as
 * RFC 8785 writes them. Its keys are known, so they are written in their sorted order (action, actor,
 * at, data, object, outcome, requestId, seq, source, tenantId) and only `data` is canonicalised: the
 * same text as canonicalJson of the fields, with no sort or walk of the record's own keys.
 */
export function canonicalRecordText(record: AuditRecord): string {
  if (!Number.isSafeInteger(record.seq) || record.seq < 1) {
    throw new RangeError(`an audit record's seq must be an integer of at least 1, not ${record.seq}`)
  }
  let out = `{"action":${text('action', record.action)},"actor":${text('actor', record.actor)},"at":${text('at', record.at)}`
  if (record.data !== undefined) out += `,"data":${canonicalJson(record.data)}`
  out += `,"object":${text('object', record.object)},"outcome":${text('outcome', record.outcome)}`
  out += `,"requestId":${record.requestId === null ? 'null' : text('requestId', record.requestId)}`
  out += `,"seq":${record.seq}`
  if (record.source !== undefined) out += `,"source":${text('source', record.source)}`
  return `${out},"tenantId":${text('tenantId', record.tenantId)}}`
}

const encoder = new TextEncoder()

/** The canonical bytes of an audit record (UTF-8 of {@link canonicalRecordText}). */
export function canonicalRecord(record: AuditRecord): Uint8Array {
  return encoder.encode(canonicalRecordText(record))
}

/** sha256 (hex) over the previous hash's ASCII hex followed by the record's canonical bytes. */
export function linkHash(previousHash: string, record: AuditRecord): string {
  if (!HEX_HASH.test(previousHash)) throw new TypeError('the previous hash must be 64 lower-case hex digits')
  return createHash('sha256')
    .update(previousHash, 'utf8')
    .update(canonicalRecordText(record), 'utf8')
    .digest('hex')
}

/** The next record of the chain whose head is `head` (null for an empty chain). */
export function appendTo(head: ChainHead | null, record: Omit<AuditRecord, 'seq'>): ChainedRecord {
  const seq = head === null ? 1 : head.seq + 1
  const prevHash = head === null ? GENESIS_HASH : head.hash
  const withSeq: AuditRecord = { ...record, seq }
  return { ...withSeq, prevHash, hash: linkHash(prevHash, withSeq) }
}

const safeLinkHash = (previousHash: string, record: AuditRecord): string | null => {
  try {
    return linkHash(previousHash, record)
  } catch {
    return null
  }
}

/**
 * Verifies records given in seq order. brokenAt is the seq at which the chain stops being
 * trustworthy: the seq that was expected at that position.
 */
export function verifyChain(records: readonly ChainedRecord[], options: VerifyOptions = {}): VerifyResult {
  const { start, checkpoint } = options
  let expectedSeq = start ? start.seq + 1 : 1
  let expectedPrev = start ? start.hash : GENESIS_HASH
  // The hash the records give the checkpoint's seq (the start's when it is the start).
  let hashAtCheckpoint = checkpoint !== undefined && start?.seq === checkpoint.seq ? start.hash : undefined

  for (let i = 0; i < records.length; i++) {
    const record = records[i] as ChainedRecord
    if (record.seq !== expectedSeq) {
      // The expected record is elsewhere (later, or this one repeats an earlier seq): reordered. Only
      // a break looks past the record at hand.
      let later = false
      for (let j = i + 1; j < records.length && !later; j++) later = records[j]?.seq === expectedSeq
      const reordered = record.seq < expectedSeq || later
      return { ok: false, brokenAt: expectedSeq, reason: reordered ? 'out-of-order' : 'gap' }
    }
    if (record.prevHash !== expectedPrev) return { ok: false, brokenAt: expectedSeq, reason: 'prev-mismatch' }
    if (safeLinkHash(expectedPrev, record) !== record.hash) {
      return { ok: false, brokenAt: expectedSeq, reason: 'hash-mismatch' }
    }
    if (checkpoint !== undefined && record.seq === checkpoint.seq) hashAtCheckpoint = record.hash
    expectedPrev = record.hash
    expectedSeq += 1
  }

  if (checkpoint) {
    const lastSeq = expectedSeq - 1
    if (checkpoint.seq > lastSeq) return { ok: false, brokenAt: lastSeq + 1, reason: 'truncated' }
    // A checkpoint before the window (no hash for it here) cannot be checked against these records.
    if (hashAtCheckpoint !== undefined && hashAtCheckpoint !== checkpoint.hash) {
      return { ok: false, brokenAt: checkpoint.seq, reason: 'truncated' }
    }
  }
  return { ok: true, checked: records.length }
}
