// One run of rxt: parses the command line and reports failures with their exit code; a command's code is
// imported only when it runs (see program.ts), so --version and --help load this file and the tree only.
import { readFileSync } from 'node:fs'
import { CommanderError } from 'commander'
import { CliError, ExitCode } from './exit-codes.ts'
import { createProgram } from './program.ts'
import { errorDocument, messageLine } from './report.ts'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string
}

const program = createProgram(version)
const json = process.argv.includes('--json')

/** A failure on standard error (and as a JSON document with --json); the exit code says which kind. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and --version end here too, with 0; commander printed the rest.
    if (error.exitCode === 0) return ExitCode.ok
    if (json) {
      const usage = new CliError(error.message.replace(/^error: /, ''), ExitCode.usage)
      process.stdout.write(`${JSON.stringify(errorDocument(usage), null, 2)}\n`)
    }
    return ExitCode.usage
  }
  const failure =
    error instanceof CliError
      ? error
      : new CliError(error instanceof Error ? error.message : String(error), ExitCode.failed)
  process.stderr.write(`${messageLine(failure)}\n${failure.details.map((d) => `  ${d}\n`).join('')}`)
  if (json && !failure.documented)
    process.stdout.write(`${JSON.stringify(errorDocument(failure), null, 2)}\n`)
  return failure.exitCode
}

try {
  await program.parseAsync(process.argv)
} catch (error) {
  process.exitCode = report(error)
}
