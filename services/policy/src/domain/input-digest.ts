import { createHash } from 'node:crypto'
import { canonical } from '@rxt/contracts/manifest'

/** Keys whose values are secrets by their name: never digested as they are. */
const secretKey = /pass(word)?|secret|token|api[-_]?key|private[-_]?key|credential|auth|cookie|session/i
/** Values that look like secrets whatever their key: bearer tokens, keys, JWTs, URLs with a password. */
const secretValue = [
  /^(bearer|basic|apikey|service)\s+\S+/i,
  /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i,
  /^(sk|pk|rk|ghp|gho|ghs|glpat|xox[abpr])[-_][A-Za-z0-9_-]{8,}/,
  /^AKIA[0-9A-Z]{16}$/,
]
export const masked = '[masked]'

/** The value with every secret-looking value replaced by {@link masked}: what may be kept or hashed. */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (key !== '' && secretKey.test(key) && value !== null && typeof value !== 'object') return masked
  if (typeof value === 'string') return secretValue.some((p) => p.test(value)) ? masked : value
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v))
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]))
  return value
}

/** sha256 of the input's canonical JSON with secret-looking values masked: two equal inputs, one digest. */
export const inputDigest = (input: unknown): string =>
  `sha256:${createHash('sha256')
    .update(canonical(maskSecrets(input) ?? null))
    .digest('hex')}`
