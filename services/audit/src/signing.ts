import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { InputError } from '@rxt/kit'
import { generateCheckpointKey } from './domain/checkpoint.ts'

/** The key checkpoints are signed with, its public half and the id checkpoints name it by. */
export interface SigningKey {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** The first 16 hex digits of sha256 over the raw 32-byte public key. */
  readonly keyId: string
  /** The public key as SPKI DER, base64url, and as PEM: what a verifier outside the platform needs. */
  readonly publicKeySpki: string
  readonly publicKeyPem: string
}

/** The PKCS #8 prefix of an Ed25519 private key, before its 32-byte seed (RFC 8410). */
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex')

const fromObject = (privateKey: KeyObject): SigningKey => {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new InputError('AUDIT_SIGNING_KEY must be an Ed25519 private key', [
      { path: '/AUDIT_SIGNING_KEY', message: `is a ${privateKey.asymmetricKeyType ?? 'symmetric'} key` },
    ])
  }
  const publicKey = createPublicKey(privateKey)
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  // The raw key is the last 32 bytes of its SPKI form.
  const keyId = createHash('sha256')
    .update(spki.subarray(spki.length - 32))
    .digest('hex')
    .slice(0, 16)
  return {
    privateKey,
    publicKey,
    keyId,
    publicKeySpki: spki.toString('base64url'),
    publicKeyPem: String(publicKey.export({ type: 'spki', format: 'pem' })),
  }
}

/**
 * AUDIT_SIGNING_KEY as given: a PEM private key, or base64url (or base64) of a PKCS #8 DER key or of a
 * raw 32-byte seed (what the embedded mode keeps in RXT_DATA_DIR). Never echoes the value.
 */
export function parseSigningKey(text: string): SigningKey {
  const trimmed = text.trim()
  const refuse = (why: string) =>
    new InputError(`AUDIT_SIGNING_KEY is not an Ed25519 private key: ${why}`, [
      { path: '/AUDIT_SIGNING_KEY', message: 'PEM, or base64url of PKCS #8 DER or of a 32-byte seed' },
    ])
  try {
    if (trimmed.startsWith('-----BEGIN')) return fromObject(createPrivateKey(trimmed))
    if (!/^[A-Za-z0-9_+/=-]+$/.test(trimmed)) throw refuse('not PEM, nor base64url')
    const bytes = Buffer.from(
      trimmed.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, ''),
      'base64url',
    )
    const der = bytes.length === 32 ? Buffer.concat([pkcs8Prefix, bytes]) : bytes
    return fromObject(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }))
  } catch (error) {
    if (error instanceof InputError) throw error
    throw refuse('it does not decode as one')
  }
}

/** A key made for this process only (the embedded mode without a kept key: tests, `openapi`). */
export function ephemeralSigningKey(): SigningKey {
  return fromObject(generateCheckpointKey().privateKey)
}
