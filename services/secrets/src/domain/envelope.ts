import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

/**
 * Envelope encryption of secret values (pure: keys in, bytes out; the store keeps the bytes).
 *
 * - The key-encryption key (KEK, 32 bytes: `SECRETS_KEY`) never encrypts a value: it wraps one data
 *   key per tenant (AES-256-GCM, the tenant and the KEK's id bound as additional data).
 * - A value is sealed with its tenant's data key (AES-256-GCM), the tenant, the secret and the version
 *   bound as additional data: a ciphertext moved to another tenant's, secret's or version's row does
 *   not open.
 * - Rotating the KEK re-wraps the data keys; no value is touched.
 *
 * Sealed form: a 12-byte nonce, the ciphertext, the 16-byte tag.
 */

const algorithm = 'aes-256-gcm'
const nonceBytes = 12
const tagBytes = 16
export const keyBytes = 32

/** A key-encryption key and its id (the first 16 hex of its SHA-256: which KEK wrapped a data key). */
export interface Kek {
  readonly id: string
  readonly key: Buffer
}

/** A tenant's data key as stored: wrapped, with the id of the KEK that wrapped it. */
export interface WrappedDataKey {
  readonly kekId: string
  readonly wrapped: Buffer
}

/** Where a sealed value belongs; all of it is bound into the ciphertext. */
export interface ValueBinding {
  readonly tenantId: string
  readonly secretId: string
  readonly version: number
}

/** A sealed value or key did not open: wrong key, wrong binding, or altered bytes. */
export class SealBrokenError extends Error {
  constructor(what: string) {
    super(`${what} could not be decrypted: the key, or the tenant, secret or version it is bound to, differs`)
    this.name = 'SealBrokenError'
  }
}

export function kekOf(key: Buffer): Kek {
  if (key.length !== keyBytes)
    throw new RangeError(`a key-encryption key is ${keyBytes} bytes, not ${key.length}`)
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key }
}

const dataKeyAad = (tenantId: string, kekId: string) =>
  Buffer.from(JSON.stringify(['rxt-deploy/data-key/v1', tenantId, kekId]))

const valueAad = (b: ValueBinding) =>
  Buffer.from(JSON.stringify(['rxt-deploy/secret/v1', b.tenantId, b.secretId, b.version]))

function seal(key: Buffer, plain: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(nonceBytes)
  const cipher = createCipheriv(algorithm, key, nonce, { authTagLength: tagBytes })
  cipher.setAAD(aad)
  return Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()])
}

function open(key: Buffer, sealed: Buffer, aad: Buffer, what: string): Buffer {
  if (sealed.length < nonceBytes + tagBytes) throw new SealBrokenError(what)
  const decipher = createDecipheriv(algorithm, key, sealed.subarray(0, nonceBytes), {
    authTagLength: tagBytes,
  })
  decipher.setAAD(aad)
  decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes))
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(nonceBytes, sealed.length - tagBytes)),
      decipher.final(),
    ])
  } catch {
    throw new SealBrokenError(what)
  }
}

/** A new data key for a tenant, and its wrapped form to store. */
export function newDataKey(kek: Kek, tenantId: string): { key: Buffer; stored: WrappedDataKey } {
  const key = randomBytes(keyBytes)
  return { key, stored: { kekId: kek.id, wrapped: seal(kek.key, key, dataKeyAad(tenantId, kek.id)) } }
}

/** The tenant's data key; the KEK must be the one that wrapped it (its id says which). */
export function unwrapDataKey(kek: Kek, tenantId: string, stored: WrappedDataKey): Buffer {
  if (stored.kekId !== kek.id) {
    throw new SealBrokenError(`The data key (wrapped by key ${stored.kekId}, not ${kek.id})`)
  }
  return open(kek.key, stored.wrapped, dataKeyAad(tenantId, kek.id), 'The data key')
}

/** KEK rotation: the same data key, wrapped by the new KEK. Values sealed with it stay as they are. */
export function rewrapDataKey(from: Kek, to: Kek, tenantId: string, stored: WrappedDataKey): WrappedDataKey {
  const key = unwrapDataKey(from, tenantId, stored)
  return { kekId: to.id, wrapped: seal(to.key, key, dataKeyAad(tenantId, to.id)) }
}

export function sealValue(dataKey: Buffer, binding: ValueBinding, value: string): Buffer {
  return seal(dataKey, Buffer.from(value, 'utf8'), valueAad(binding))
}

export function openValue(dataKey: Buffer, binding: ValueBinding, sealed: Buffer): string {
  return open(dataKey, sealed, valueAad(binding), 'The secret value').toString('utf8')
}
