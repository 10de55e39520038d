import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

export const mainScript = fileURLToPath(new URL('../src/main.ts', import.meta.url))
export const slowScript = fileURLToPath(new URL('./fixtures/slow-server.ts', import.meta.url))

export interface Server {
  readonly child: ChildProcess
  readonly url: string
  readonly output: () => string
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** rxt-deploy (or a script built on its main) as a child process: a free port, no inherited database. */
function spawnRxt(args: string[], env: NodeJS.ProcessEnv, script: string): ChildProcessWithoutNullStreams {
  const { DATABASE_URL: _ignored, ...inherited } = process.env
  return spawn(process.execPath, ['--experimental-strip-types', script, ...args], {
    env: { ...inherited, PORT: '0', LOG_LEVEL: 'info', ...env },
  })
}

/** Runs rxt-deploy to completion (for commands that end, or startups that fail). */
export async function runToEnd(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  script = mainScript,
): Promise<Run> {
  const child = spawnRxt(args, env, script)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

const running = new Set<ChildProcess>()

/** Kills every server a test started and left running (a failed assertion skips its stop). */
export async function killLeftovers(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await once(child, 'exit')
      }
      running.delete(child)
    }),
  )
}

/** Starts rxt-deploy and resolves once it logs that it is serving. */
export async function startServer(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  script = mainScript,
  options: {
    /** Drain standard output once serving without keeping it (a benchmark's server logs megabytes). */
    readonly discardOutput?: boolean
  } = {},
): Promise<Server> {
  const child = spawnRxt(args, env, script)
  running.add(child)
  let out = ''
  const exited = once(child, 'exit') as Promise<[number | null]>
  exited.then(() => running.delete(child))
  const url = await new Promise<string>((resolve, reject) => {
    let serving = false
    let partial = ''
    const onData = (d: Buffer) => {
      if (serving && options.discardOutput === true) return
      out += d
      // Only the lines not yet looked at, and none once it serves: a busy server logs a lot.
      if (serving) return
      const lines = (partial + d).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.includes('rxt-deploy is serving')) continue
        serving = true
        resolve(JSON.parse(line).address)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d) => {
      out += d
    })
    exited.then(([code]) => reject(new Error(`rxt-deploy exited with ${code} before serving:\n${out}`)))
  })
  return {
    child,
    url,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode
      child.kill(signal)
      const [code] = await exited
      return code
    },
  }
}
