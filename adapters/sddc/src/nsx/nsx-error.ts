import { type FailureCode, failure, type PlatformFailure } from '@rxt/platform-sdk'

/**
 * A failed call to the NSX Policy API, in the closed set of platform failures. The message is for a
 * person, says what to check, and never holds a secret (the client scrubs the credentials and key
 * material of the call from anything NSX answered).
 */
export class NsxError extends Error {
  readonly code: FailureCode
  readonly retryable: boolean
  /** The HTTP status NSX answered, when it answered. */
  readonly status: number | undefined
  /** NSX's own error_code, when it sent one. */
  readonly nsxErrorCode: number | undefined

  constructor(
    code: FailureCode,
    message: string,
    options: { status?: number; nsxErrorCode?: number; step?: string } = {},
  ) {
    super(message)
    this.name = 'NsxError'
    const f = failure(code, message, options.step)
    this.code = f.code
    this.retryable = f.retryable
    this.status = options.status
    this.nsxErrorCode = options.nsxErrorCode
  }

  /** The failure as the platform interface reports it. */
  toFailure(step?: string): PlatformFailure {
    return failure(this.code, this.message, step)
  }
}

/** The failure code of an HTTP status NSX answered. */
export function codeOfStatus(status: number): FailureCode {
  if (status === 400 || status === 422) return 'invalid'
  if (status === 404) return 'not-found'
  if (status === 409 || status === 412) return 'conflict'
  if (status === 408) return 'timeout'
  if (status === 429 || status >= 500) return 'unavailable'
  // 401 and 403 (the account), and any other refusal.
  return 'rejected'
}

/** What a person should check, by failure code (appended to NSX's own message). */
export const adviceOf: Readonly<Record<FailureCode, string>> = {
  invalid: 'fix the request; retrying it unchanged fails again',
  'not-found': 'the object does not exist on this NSX Manager',
  conflict: 'the object was changed by someone else (stale _revision) or is in a state that forbids this',
  rejected: 'check the NSX account, its role and the NSX Manager address',
  unavailable: 'NSX Manager did not answer or is failing for now; the call may be retried',
  timeout: 'NSX Manager did not answer in time; the change may still be applied, so read before retrying',
}

/**
 * `text` with every secret replaced: each whole secret, and each line of a multi-line secret (a PEM
 * key's base64 lines) long enough to recognise.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text
  const pieces = new Set<string>()
  for (const secret of secrets) {
    if (secret.length === 0) continue
    pieces.add(secret)
    for (const line of secret.split(/\r?\n/)) {
      const trimmed = line.trim()
      if (trimmed.length >= 12 && !trimmed.startsWith('-----')) pieces.add(trimmed)
    }
  }
  // Longest first, so that a whole secret goes before its lines.
  for (const piece of [...pieces].sort((a, b) => b.length - a.length))
    out = out.split(piece).join('[redacted]')
  return out
}
