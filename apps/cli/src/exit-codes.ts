/** What `rxt` exits with (documented in the README): a script can tell each kind of failure apart. */
export const ExitCode = {
  ok: 0,
  /** The operation ran and failed: a deploy that failed, a conflict the server refused. */
  failed: 1,
  /** The command line is wrong: an unknown command or option, a missing argument. */
  usage: 2,
  /** Not signed in, the sign-in expired, or not allowed (401, 403). */
  auth: 3,
  /** What was named does not exist (404): an organisation, project, environment or deployment. */
  notFound: 4,
  /** The server refused the input (400, 422): an invalid deploy.yaml, a bad field. */
  invalid: 5,
  /** The server could not be reached, or answered 5xx. */
  unavailable: 6,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** The server's problem document a failure came from (RFC 9457), as --json prints it. */
export interface ProblemDocument {
  readonly code?: string
  readonly requestId?: string
}

/** A failure `rxt` reports on standard error and exits with; every command throws only these. */
export class CliError extends Error {
  /** The server's problem document, when the server refused (kept whole in the --json document). */
  readonly problem?: ProblemDocument
  readonly exitCode: ExitCode
  /** Lines printed after the message (one problem of a document each, a compensation…). */
  readonly details: readonly string[]
  /** Whether the command printed its JSON document already (a failed deploy's): no second one. */
  readonly documented: boolean
  constructor(
    message: string,
    exitCode: ExitCode,
    details: readonly string[] = [],
    documented = false,
    problem?: ProblemDocument,
  ) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
    this.details = details
    this.documented = documented
    if (problem !== undefined) this.problem = problem
  }
}

/** The exit code of an HTTP status the server answered with. */
export function exitCodeOfStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.auth
  if (status === 404) return ExitCode.notFound
  if (status === 400 || status === 413 || status === 415 || status === 422) return ExitCode.invalid
  if (status >= 500) return ExitCode.unavailable
  return ExitCode.failed
}
