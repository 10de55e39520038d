import { generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto'
import { canonicalJson } from './chain.ts'

export interface CheckpointBody {
  tenantId: string
  seq: number
  hash: string
  at: string
}

export type SignedCheckpoint = CheckpointBody & { signature: string }

/** Domain separation, so a checkpoint signature can never be replayed as another kind of signature. */
const CONTEXT = 'rxt-deploy/audit-checkpoint/v1\n'
const HEX_HASH = /^[0-9a-f]{64}$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

const checkBody = (body: CheckpointBody): void => {
  if (typeof body.tenantId !== 'string' || body.tenantId === '')
    throw new TypeError('a checkpoint needs a tenantId')
  if (!Number.isSafeInteger(body.seq) || body.seq < 0)
    throw new RangeError('a checkpoint seq must be an integer ≥ 0')
  if (typeof body.hash !== 'string' || !HEX_HASH.test(body.hash))
    throw new TypeError('a checkpoint hash must be 64 hex digits')
  if (typeof body.at !== 'string' || body.at === '') throw new TypeError('a checkpoint needs an at timestamp')
}

/** The bytes that are signed: a context string followed by the canonical JSON of the four fields. */
export function canonicalCheckpoint(body: CheckpointBody): Uint8Array {
  checkBody(body)
  const fields = { tenantId: body.tenantId, seq: body.seq, hash: body.hash, at: body.at }
  return new TextEncoder().encode(CONTEXT + canonicalJson(fields))
}

export function generateCheckpointKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ed25519')
}

export function signCheckpoint(privateKey: KeyObject, body: CheckpointBody): SignedCheckpoint {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('checkpoints are signed with an Ed25519 private key')
  }
  const { tenantId, seq, hash, at } = body
  const signature = sign(null, canonicalCheckpoint(body), privateKey).toString('base64')
  return { tenantId, seq, hash, at, signature }
}

/** True only for a well-formed checkpoint whose Ed25519 signature verifies under publicKey. */
export function verifyCheckpoint(publicKey: KeyObject, checkpoint: SignedCheckpoint): boolean {
  try {
    if (publicKey.asymmetricKeyType !== 'ed25519') return false
    if (typeof checkpoint.signature !== 'string' || !BASE64.test(checkpoint.signature)) return false
    const signature = Buffer.from(checkpoint.signature, 'base64')
    // Reject non-canonical encodings of the signature.
    if (signature.length !== 64 || signature.toString('base64') !== checkpoint.signature) return false
    return verify(null, canonicalCheckpoint(checkpoint), publicKey, signature)
  } catch {
    return false
  }
}
