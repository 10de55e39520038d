// How a failure reads: its message line on standard error (with the server's problem code and request
// id), and its --json document on standard output.
import type { CliError } from './exit-codes.ts'

/** The message line of a failure: the server's problem code and request id after it, when it has them. */
export function messageLine(failure: CliError): string {
  const problem = failure.problem
  const tags = [
    ...(typeof problem?.code === 'string' ? [problem.code] : []),
    ...(typeof problem?.requestId === 'string' ? [`request ${problem.requestId}`] : []),
  ]
  return `rxt: ${failure.message}${tags.length === 0 ? '' : ` (${tags.join(', ')})`}`
}

/** The --json document of a failure: what a script reads on standard output instead of the result. */
export function errorDocument(failure: CliError): { error: Record<string, unknown> } {
  return {
    error: {
      message: failure.message,
      exitCode: failure.exitCode,
      details: failure.details,
      ...(failure.problem === undefined ? {} : { problem: failure.problem }),
    },
  }
}
