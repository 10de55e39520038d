import { createHash } from 'node:crypto'
import { canonical } from '@rxt/contracts/manifest'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AuditRecord,
  appendTo,
  type ChainedRecord,
  canonicalJson,
  canonicalRecord,
  canonicalRecordText,
  GENESIS_HASH,
  linkHash,
  verifyChain,
} from './chain.ts'

const body = (i: number): Omit<AuditRecord, 'seq'> => ({
  tenantId: 'tenant-a',
  at: `2026-12-02T20:${String(i % 60).padStart(2, '0')}:00.000Z`,
  actor: `user-${i % 3}`,
  action: 'deployment.create',
  object: `deployment/${i}`,
  outcome: i % 7 === 0 ? 'denied' : 'allowed',
  requestId: i % 5 === 0 ? null : `req-${i}`,
  data: { region: 'eu-west', replicas: i, tags: ['b', 'a'] },
})

const buildChain = (n: number): ChainedRecord[] => {
  const out: ChainedRecord[] = []
  for (let i = 1; i <= n; i++) {
    const last = out.at(-1)
    out.push(appendTo(last ? { seq: last.seq, hash: last.hash } : null, body(i)))
  }
  return out
}

const chain = buildChain(50)
const at = (records: ChainedRecord[], seq: number): ChainedRecord => {
  const found = records.find((r) => r.seq === seq)
  if (!found) throw new Error(`no record ${seq}`)
  return found
}
const headOf = (r: ChainedRecord) => ({ seq: r.seq, hash: r.hash })

const flipFirstChar = (s: string): string => String.fromCharCode(s.charCodeAt(0) ^ 1) + s.slice(1)

describe('canonical form', () => {
  it('writes a record as RFC 8785 canonical JSON of its fields, whatever they hold', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.string({ unit: 'binary' }),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 4 }),
      ),
    })).value
    const record = fc.record(
      {
        tenantId: fc.string({ unit: 'binary' }),
        seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        at: fc.string(),
        actor: fc.string({ unit: 'binary' }),
        action: fc.string(),
        object: fc.string({ unit: 'binary' }),
        outcome: fc.string(),
        requestId: fc.option(fc.string(), { nil: null }),
        source: fc.string(),
        data: fc.dictionary(fc.string({ unit: 'binary' }), json, { maxKeys: 5 }),
      },
      { requiredKeys: ['tenantId', 'seq', 'at', 'actor', 'action', 'object', 'outcome', 'requestId'] },
    )
    fc.assert(
      fc.property(record, (r) => {
        const fields: Record<string, unknown> = { ...r }
        // The manifests' RFC 8785 form (@rxt/contracts) is the reference the chain's writer keeps to.
        expect(canonicalRecordText(r as AuditRecord)).toBe(canonical(fields))
        if (r.data !== undefined) expect(canonicalJson(r.data)).toBe(canonical(r.data))
      }),
      { numRuns: 500 },
    )
  })

  it('sorts keys recursively with no whitespace, whatever the insertion order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: null, y: true }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[1,{"y":true,"z":null}]},"b":1}',
    )
    const record: AuditRecord = {
      requestId: null,
      outcome: 'allowed',
      object: 'o',
      action: 'a',
      actor: 'u',
      at: '2026-01-01T00:00:00.000Z',
      seq: 1,
      tenantId: 't',
    }
    expect(new TextDecoder().decode(canonicalRecord(record))).toBe(
      '{"action":"a","actor":"u","at":"2026-01-01T00:00:00.000Z","object":"o","outcome":"allowed","requestId":null,"seq":1,"tenantId":"t"}',
    )
  })

  it('rejects a seq that is not an integer of at least 1, and non-JSON values', () => {
    const base = { ...body(1), seq: 1 }
    expect(() => canonicalRecord({ ...base, seq: 0 })).toThrow(RangeError)
    expect(() => canonicalRecord({ ...base, seq: 1.5 })).toThrow(RangeError)
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError)
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(TypeError)
  })
})

describe('linking', () => {
  it('hashes the first link from the genesis hash and an explicit canonical string', () => {
    const first = at(chain, 1)
    const canonical =
      '{"action":"deployment.create","actor":"user-1","at":"2026-12-02T20:01:00.000Z",' +
      '"data":{"region":"eu-west","replicas":1,"tags":["b","a"]},' +
      '"object":"deployment/1","outcome":"allowed","requestId":"req-1","seq":1,"tenantId":"tenant-a"}'
    const expected = createHash('sha256')
      .update(`0000000000000000000000000000000000000000000000000000000000000000${canonical}`)
      .digest('hex')
    expect(first.prevHash).toBe(GENESIS_HASH)
    expect(first.hash).toBe(expected)
    expect(linkHash(GENESIS_HASH, first)).toBe(expected)
  })

  it('links each record to the one before', () => {
    for (let i = 1; i < chain.length; i++) {
      const prev = chain[i - 1] as ChainedRecord
      const cur = chain[i] as ChainedRecord
      expect(cur.seq).toBe(i + 1)
      expect(cur.prevHash).toBe(prev.hash)
      const expected = createHash('sha256')
        .update(prev.hash + new TextDecoder().decode(canonicalRecord(cur)))
        .digest('hex')
      expect(cur.hash).toBe(expected)
    }
    expect(new Set(chain.map((r) => r.hash)).size).toBe(50)
  })
})

describe('verifyChain', () => {
  it('accepts the intact chain, with or without its checkpoint, and a window given its start', () => {
    expect(verifyChain(chain)).toEqual({ ok: true, checked: 50 })
    expect(verifyChain(chain, { checkpoint: headOf(at(chain, 50)) })).toEqual({ ok: true, checked: 50 })
    expect(verifyChain(chain, { checkpoint: headOf(at(chain, 20)) })).toEqual({ ok: true, checked: 50 })
    expect(verifyChain(chain.slice(20), { start: headOf(at(chain, 20)) })).toEqual({ ok: true, checked: 30 })
    expect(verifyChain([])).toEqual({ ok: true, checked: 0 })
  })

  it('detects a flipped byte in every field', () => {
    const fields = ['tenantId', 'at', 'actor', 'action', 'object', 'outcome', 'requestId'] as const
    for (const field of fields) {
      const tampered = chain.map((r) => ({ ...r }))
      const victim = at(tampered, 27)
      victim[field] = flipFirstChar(victim[field] ?? 'x')
      expect(verifyChain(tampered), field).toEqual({ ok: false, brokenAt: 27, reason: 'hash-mismatch' })
    }
    const dataTampered = chain.map((r) => ({ ...r }))
    at(dataTampered, 13).data = { region: 'eu-west', replicas: 14, tags: ['b', 'a'] }
    expect(verifyChain(dataTampered)).toEqual({ ok: false, brokenAt: 13, reason: 'hash-mismatch' })

    const hashTampered = chain.map((r) => ({ ...r }))
    at(hashTampered, 40).hash = flipFirstChar(at(hashTampered, 40).hash)
    expect(verifyChain(hashTampered)).toEqual({ ok: false, brokenAt: 40, reason: 'hash-mismatch' })

    const prevTampered = chain.map((r) => ({ ...r }))
    at(prevTampered, 8).prevHash = flipFirstChar(at(prevTampered, 8).prevHash)
    expect(verifyChain(prevTampered)).toEqual({ ok: false, brokenAt: 8, reason: 'prev-mismatch' })
  })

  it('detects a deleted record, as a gap or, if renumbered, as a prev mismatch', () => {
    const deleted = chain.filter((r) => r.seq !== 10)
    expect(verifyChain(deleted)).toEqual({ ok: false, brokenAt: 10, reason: 'gap' })
    const renumbered = deleted.map((r) => (r.seq > 10 ? { ...r, seq: r.seq - 1 } : r))
    expect(verifyChain(renumbered)).toEqual({ ok: false, brokenAt: 10, reason: 'prev-mismatch' })
    expect(verifyChain(chain.slice(1))).toEqual({ ok: false, brokenAt: 1, reason: 'gap' })
  })

  it('detects two records swapped', () => {
    const swapped = [...chain]
    ;[swapped[4], swapped[5]] = [swapped[5] as ChainedRecord, swapped[4] as ChainedRecord]
    expect(verifyChain(swapped)).toEqual({ ok: false, brokenAt: 5, reason: 'out-of-order' })
    const duplicated = [...chain.slice(0, 30), at(chain, 12), ...chain.slice(30)]
    expect(verifyChain(duplicated)).toEqual({ ok: false, brokenAt: 31, reason: 'out-of-order' })
  })

  it('detects a truncated tail only against a checkpoint', () => {
    const truncated = chain.slice(0, 45)
    expect(verifyChain(truncated)).toEqual({ ok: true, checked: 45 })
    expect(verifyChain(truncated, { checkpoint: headOf(at(chain, 50)) })).toEqual({
      ok: false,
      brokenAt: 46,
      reason: 'truncated',
    })
    // Truncated and rewritten from seq 46 on: the checkpoint disagrees with the new tail.
    let head = headOf(at(chain, 45))
    const rewritten = [...truncated]
    for (let i = 46; i <= 50; i++) {
      const next = appendTo(head, { ...body(i), outcome: 'allowed', object: `forged/${i}` })
      rewritten.push(next)
      head = headOf(next)
    }
    expect(verifyChain(rewritten)).toEqual({ ok: true, checked: 50 })
    expect(verifyChain(rewritten, { checkpoint: headOf(at(chain, 50)) })).toEqual({
      ok: false,
      brokenAt: 50,
      reason: 'truncated',
    })
  })

  it('rejects a window that does not start where its start says', () => {
    expect(verifyChain(chain.slice(20), { start: headOf(at(chain, 19)) })).toEqual({
      ok: false,
      brokenAt: 20,
      reason: 'gap',
    })
    expect(verifyChain(chain.slice(20), { start: { seq: 20, hash: at(chain, 19).hash } })).toEqual({
      ok: false,
      brokenAt: 21,
      reason: 'prev-mismatch',
    })
  })
})
