import { describe, expect, it } from 'vitest'
import { canonicalCheckpoint, generateCheckpointKey, signCheckpoint, verifyCheckpoint } from './checkpoint.ts'

const body = { tenantId: 'tenant-a', seq: 50, hash: 'ab'.repeat(32), at: '2026-12-02T21:00:00.000Z' }

describe('signed checkpoints', () => {
  const { publicKey, privateKey } = generateCheckpointKey()
  const signed = signCheckpoint(privateKey, body)

  it('signs the four fields with Ed25519 and verifies under the matching public key', () => {
    expect(publicKey.asymmetricKeyType).toBe('ed25519')
    expect(signed).toMatchObject(body)
    expect(Buffer.from(signed.signature, 'base64')).toHaveLength(64)
    expect(verifyCheckpoint(publicKey, signed)).toBe(true)
    expect(new TextDecoder().decode(canonicalCheckpoint(body))).toBe(
      `rxt-deploy/audit-checkpoint/v1\n{"at":"2026-12-02T21:00:00.000Z","hash":"${'ab'.repeat(32)}","seq":50,"tenantId":"tenant-a"}`,
    )
  })

  it('fails when the signature is altered', () => {
    const bytes = Buffer.from(signed.signature, 'base64')
    bytes[10] = (bytes[10] ?? 0) ^ 1
    expect(verifyCheckpoint(publicKey, { ...signed, signature: bytes.toString('base64') })).toBe(false)
    expect(verifyCheckpoint(publicKey, { ...signed, signature: signed.signature.slice(0, -4) })).toBe(false)
    expect(verifyCheckpoint(publicKey, { ...signed, signature: 'not base64!' })).toBe(false)
  })

  it('fails when any signed field is altered', () => {
    expect(verifyCheckpoint(publicKey, { ...signed, seq: 51 })).toBe(false)
    expect(verifyCheckpoint(publicKey, { ...signed, tenantId: 'tenant-b' })).toBe(false)
    expect(verifyCheckpoint(publicKey, { ...signed, hash: 'ac'.repeat(32) })).toBe(false)
    expect(verifyCheckpoint(publicKey, { ...signed, at: '2026-12-02T21:00:01.000Z' })).toBe(false)
  })

  it('fails when signed by another key', () => {
    const other = generateCheckpointKey()
    const forged = signCheckpoint(other.privateKey, body)
    expect(verifyCheckpoint(other.publicKey, forged)).toBe(true)
    expect(verifyCheckpoint(publicKey, forged)).toBe(false)
  })
})
