/**
 * The closed set of errors every context throws. Domain code throws these (never HTTP errors);
 * one Fastify hook maps them to RFC 9457 problem+json (see http/problem.ts).
 */

export const ErrorCode = {
  input: 'input',
  notFound: 'not-found',
  conflict: 'conflict',
  notAllowed: 'not-allowed',
  authentication: 'authentication',
  unavailable: 'unavailable',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** One problem with one part of the input, located by a JSON pointer or a file path and line. */
export interface Violation {
  readonly path: string
  readonly message: string
  readonly line?: number
  readonly column?: number
}

export interface ErrorOptions {
  /** Whether the same call may succeed later without a change of input. */
  readonly retryable?: boolean
  readonly cause?: unknown
  /** Safe, structured details for the caller (never secrets). */
  readonly details?: Readonly<Record<string, unknown>>
}

abstract class KitErrorBase extends Error {
  abstract readonly code: ErrorCode
  readonly retryable: boolean
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(message: string, defaultRetryable: boolean, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.retryable = options.retryable ?? defaultRetryable
    this.details = options.details
  }
}

/**
 * The input is wrong; the caller must change it. Carries every violation found, not just the first.
 * `unprocessable`: the request was well formed but its content is not (a manifest that breaks its
 * schema, a key reused for another request): 422 rather than 400.
 */
export class InputError extends KitErrorBase {
  readonly code = ErrorCode.input
  readonly violations: readonly Violation[]
  readonly unprocessable: boolean
  constructor(
    message: string,
    violations: readonly Violation[] = [],
    options?: ErrorOptions & { readonly unprocessable?: boolean },
  ) {
    super(message, false, options)
    this.violations = violations
    this.unprocessable = options?.unprocessable === true
  }
}

/** The 422 of a document that breaks its schema: how many problems, and every one of them. */
export const invalidDocument = (what: string, violations: readonly Violation[]): InputError =>
  new InputError(
    `${what} is not valid: ${violations.length} problem${violations.length === 1 ? '' : 's'}`,
    violations,
    { unprocessable: true },
  )

export class NotFoundError extends KitErrorBase {
  readonly code = ErrorCode.notFound
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options)
  }
}

/** The request conflicts with the current state (a duplicate, a stale version, a concurrent change). */
export class ConflictError extends KitErrorBase {
  readonly code = ErrorCode.conflict
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options)
  }
}

/** The caller is known but may not do this. */
export class NotAllowedError extends KitErrorBase {
  readonly code = ErrorCode.notAllowed
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options)
  }
}

/** The caller could not be identified. */
export class AuthenticationError extends KitErrorBase {
  readonly code = ErrorCode.authentication
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options)
  }
}

/** A dependency (database, bus, platform) cannot be reached now; retrying later may succeed. */
export class UnavailableError extends KitErrorBase {
  readonly code = ErrorCode.unavailable
  constructor(message: string, options?: ErrorOptions) {
    super(message, true, options)
  }
}

export type KitError =
  | InputError
  | NotFoundError
  | ConflictError
  | NotAllowedError
  | AuthenticationError
  | UnavailableError

export const isKitError = (error: unknown): error is KitError => error instanceof KitErrorBase

export function assertNever(value: never, message = 'unexpected value'): never {
  throw new Error(`${message}: ${JSON.stringify(value)}`)
}
