import { ConflictError, UnavailableError } from '../errors.ts'

/** SQLSTATE classes and codes that mean "the database is not there right now". */
const unavailableCodes = new Set(['57P01', '57P02', '57P03', '53300', '53400'])
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  'EHOSTUNREACH',
])

/**
 * Maps driver errors that every caller treats the same way onto the closed set: an unreachable
 * database is retryable UnavailableError; a serialization failure or deadlock a retryable
 * ConflictError. Everything else (a bug, a constraint the context should have checked) passes through.
 */
export function translateDbError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string') {
    if (error instanceof Error && /Connection terminated|connection timeout/i.test(error.message)) {
      return new UnavailableError('the database cannot be reached', { cause: error })
    }
    return error
  }
  if (networkCodes.has(code) || code.startsWith('08') || unavailableCodes.has(code)) {
    return new UnavailableError('the database cannot be reached', { cause: error })
  }
  if (code === '23505') {
    return new ConflictError('a record with the same unique key exists', { cause: error })
  }
  if (code === '40001' || code === '40P01') {
    return new ConflictError('a concurrent change got in the way; try again', {
      cause: error,
      retryable: true,
    })
  }
  return error
}
