import { createDecipheriv, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  kekOf,
  newDataKey,
  openValue,
  rewrapDataKey,
  SealBrokenError,
  sealValue,
  unwrapDataKey,
} from './envelope.ts'

const value = 'postgres://app:s3cr3t-canary-7b1d@db:5432/shop'
const acme = { tenantId: 'tnt_acme', secretId: 'sec_db', version: 1 }

describe('envelope encryption', () => {
  it('a sealed value is not the value, and opens with its tenant key and binding', () => {
    const kek = kekOf(randomBytes(32))
    const { key } = newDataKey(kek, 'tnt_acme')
    const sealed = sealValue(key, acme, value)
    expect(sealed.includes(Buffer.from(value))).toBe(false)
    expect(sealed.length).toBe(12 + Buffer.byteLength(value) + 16)
    expect(openValue(key, acme, sealed)).toBe(value)
    // Two seals of one value differ (a fresh nonce each time).
    expect(sealValue(key, acme, value).equals(sealed)).toBe(false)
  })

  it('the sealed bytes are AES-256-GCM under the data key: nonce, ciphertext, tag', () => {
    const kek = kekOf(randomBytes(32))
    const { key } = newDataKey(kek, 'tnt_acme')
    const sealed = sealValue(key, acme, value)
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
    decipher.setAAD(Buffer.from('["rxt-deploy/secret/v1","tnt_acme","sec_db",1]'))
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()])
    expect(plain.toString()).toBe(value)
  })

  it("a row moved to another tenant does not open, with that tenant's key or its own", () => {
    const kek = kekOf(randomBytes(32))
    const acmeKey = newDataKey(kek, 'tnt_acme')
    const globexKey = newDataKey(kek, 'tnt_globex')
    const sealed = sealValue(acmeKey.key, acme, value)
    const moved = { ...acme, tenantId: 'tnt_globex' }
    expect(() => openValue(globexKey.key, moved, sealed)).toThrow(SealBrokenError)
    // Even with the right key, the binding to the tenant refuses it.
    expect(() => openValue(acmeKey.key, moved, sealed)).toThrow(SealBrokenError)
    // A wrapped data key moved to another tenant does not unwrap either.
    expect(() => unwrapDataKey(kek, 'tnt_globex', acmeKey.stored)).toThrow(SealBrokenError)
  })

  it('the secret and the version are bound too', () => {
    const { key } = newDataKey(kekOf(randomBytes(32)), 'tnt_acme')
    const sealed = sealValue(key, acme, value)
    expect(() => openValue(key, { ...acme, secretId: 'sec_other' }, sealed)).toThrow(SealBrokenError)
    expect(() => openValue(key, { ...acme, version: 2 }, sealed)).toThrow(SealBrokenError)
  })

  it('a flipped byte anywhere is refused, and the error names no value', () => {
    const { key } = newDataKey(kekOf(randomBytes(32)), 'tnt_acme')
    const sealed = sealValue(key, acme, value)
    for (const at of [0, 11, 12, sealed.length - 17, sealed.length - 1]) {
      const bad = Buffer.from(sealed)
      bad[at] = (bad[at] ?? 0) ^ 0x01
      let error: unknown
      try {
        openValue(key, acme, bad)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(SealBrokenError)
      expect(String((error as Error).message)).not.toContain('s3cr3t')
    }
    expect(() => openValue(key, acme, sealed.subarray(0, 20))).toThrow(SealBrokenError)
  })

  it('KEK rotation re-wraps the data key; values sealed before open with the re-wrapped key', () => {
    const oldKek = kekOf(randomBytes(32))
    const newKek = kekOf(randomBytes(32))
    const { key, stored } = newDataKey(oldKek, 'tnt_acme')
    const sealed = sealValue(key, acme, value)
    const rewrapped = rewrapDataKey(oldKek, newKek, 'tnt_acme', stored)
    expect(rewrapped.kekId).toBe(newKek.id)
    expect(rewrapped.wrapped.equals(stored.wrapped)).toBe(false)
    expect(openValue(unwrapDataKey(newKek, 'tnt_acme', rewrapped), acme, sealed)).toBe(value)
    // The old KEK no longer opens the re-wrapped key, nor the new one the old wrapping.
    expect(() => unwrapDataKey(oldKek, 'tnt_acme', rewrapped)).toThrow(SealBrokenError)
    expect(() => unwrapDataKey(newKek, 'tnt_acme', stored)).toThrow(SealBrokenError)
  })

  it('a KEK is 32 bytes', () => {
    expect(() => kekOf(randomBytes(16))).toThrow(RangeError)
    expect(kekOf(Buffer.alloc(32)).id).toBe('66687aadf862bd77')
  })
})
