// `rxt` as a child process of a test, as a user runs it: `node apps/cli/src/main.ts …`, with its own
// config directory and the server it is pointed at, none of the RXT_* of the test's environment.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

export const cliMain = fileURLToPath(new URL('../src/main.ts', import.meta.url))

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `rxt args…` to its end (killed after `timeoutMs`), `input` on its standard input. */
export async function runCli(
  args: readonly string[],
  env: Record<string, string>,
  options: { readonly input?: string; readonly timeoutMs?: number } = {},
): Promise<CliRun> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RXT_')))
  const child = spawn(process.execPath, [cliMain, ...args], {
    env: { ...inherited, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
  const [code] = (await once(child, 'close')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}
