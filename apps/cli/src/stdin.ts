// Secrets come in on standard input (a pipe) or from a prompt that does not echo (a terminal), never as
// arguments: those are in the shell's history and in every process listing.
import { createInterface } from 'node:readline'
import { CliError, ExitCode } from './exit-codes.ts'

/** All of standard input, without its trailing newline. */
export async function readStdin(): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) text += chunk
  return text.replace(/\r?\n$/, '')
}

/** Asks on the terminal; `hidden` echoes nothing (a password). */
export function prompt(question: string, hidden = false): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  if (hidden) {
    const writable = rl as unknown as { _writeToOutput: (text: string) => void }
    writable._writeToOutput = (text: string) => {
      if (text.startsWith(question)) process.stderr.write(question)
    }
  }
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close()
      if (hidden) process.stderr.write('\n')
      resolve(answer)
    })
  })
}

/** A secret value: standard input when it is not a terminal, otherwise a hidden prompt. */
export async function secretInput(what: string): Promise<string> {
  const value = process.stdin.isTTY === true ? await prompt(`${what}: `, true) : await readStdin()
  if (value === '') throw new CliError(`no ${what} given (pipe it on standard input)`, ExitCode.usage)
  return value
}
