// rxt-deploy as a child process of a test (or a benchmark). Every child is the leader of its own process
// group and is ended with its group, however the test ends:
// - the suite calls `endChildren` after each test (afterEach runs after a failure and after a timeout);
// - the worker ending ends them too ('exit', and SIGTERM, which is how vitest ends a worker and which
//   skips 'exit' handlers);
// - a child whose parent is gone without ending it (a worker killed outright) ends itself: every child
//   is started with `fixtures/orphan-guard.ts` preloaded.
// Starts wait on what the child says (a log line), never on a sleep, and give up after a budget sized from
// measured starts (see `startBudgetMs`), killing what they started.
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const mainScript = fileURLToPath(new URL('../src/main.ts', import.meta.url))
export const slowScript = fileURLToPath(new URL('./fixtures/slow-server.ts', import.meta.url))
const orphanGuard = pathToFileURL(fileURLToPath(new URL('./fixtures/orphan-guard.ts', import.meta.url))).href

/**
 * How long one start of the whole build on PGlite may take before it counts as failed. Measured on 2 cores
 * (the server suite): about 7 s from spawn to serving on a quiet machine; beside two busy CPU-bound
 * processes, 20–24 s (a test of two starts took 42–47 s, where its 30 s timeout had failed it). The budget
 * is about four times the loaded figure, so that only a start that hangs fails. A test's own timeout is
 * the sum of the budgets of what it starts or runs in sequence.
 */
export const startBudgetMs = 90_000

export interface Server {
  readonly child: ChildProcess
  readonly url: string
  readonly output: () => string
  /** Resolves once the output (standard output and error) contains `text`; rejects if the child exits first. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The children of this process that may still run, each the leader of its process group. */
const running = new Set<ChildProcess>()
const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null
const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // The group is gone already.
  }
}
const killAll = () => {
  for (const child of running) signalGroup(child, 'SIGKILL')
}
process.once('exit', killAll)
process.once('SIGTERM', () => {
  killAll()
  // What SIGTERM would have done had nobody listened.
  process.exit(143)
})

/** What a child must not inherit from the test's environment: where it would connect, and its keys. */
const notInherited = [
  'DATABASE_URL',
  'NATS_URL',
  'REDIS_URL',
  'PUBLIC_URL',
  'IDENTITY_URL',
  'GATEWAY_UPSTREAMS',
  'WEBHOOK_KEY',
  'SECRETS_KEY',
  'SECRETS_KEY_PREVIOUS',
  'VAULT_ADDR',
  'VAULT_TOKEN',
  'CONTEXT_URLS',
  'SERVICE_CREDENTIAL',
  'AUDIT_SIGNING_KEY',
  'AUDIT_ARCHIVE_S3_ENDPOINT',
  'AUDIT_ARCHIVE_S3_SECRET_ACCESS_KEY',
  'SDDC_URL',
  'SDDC_PASSWORD',
  'NSX_URL',
  'NSX_PASSWORD',
  'SDDC_TLS_VAULT_ADDR',
  'SDDC_TLS_VAULT_TOKEN',
]

/**
 * rxt-deploy (or a script built on its main) as a child process of this one, the leader of its own
 * process group, ended with it (see the top of this file): a free port, none of the configuration of
 * the test's environment that says where to connect.
 */
export function spawnRxt(
  args: string[],
  env: NodeJS.ProcessEnv,
  script = mainScript,
): ChildProcessWithoutNullStreams {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !notInherited.includes(key)),
  )
  const child = spawn(
    process.execPath,
    ['--experimental-strip-types', '--import', orphanGuard, script, ...args],
    {
      env: { ...inherited, PORT: '0', LOG_LEVEL: 'info', ...env },
      detached: true,
      stdio: 'pipe',
    },
  )
  running.add(child)
  child.once('exit', () => {
    running.delete(child)
    // Whatever it started goes with it.
    signalGroup(child, 'SIGKILL')
  })
  return child
}

/** Ends every child this process started that is still running, with its process group (after each test). */
export async function endChildren(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const exited = once(child, 'exit')
      signalGroup(child, 'SIGKILL')
      if (alive(child)) await exited
      running.delete(child)
    }),
  )
}

/** Runs rxt-deploy to completion (for commands that end, or startups that fail); kills it after `timeoutMs`. */
export async function runToEnd(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  script = mainScript,
  timeoutMs = startBudgetMs,
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
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    signalGroup(child, 'SIGKILL')
  }, timeoutMs)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  if (timedOut) {
    throw new Error(`rxt-deploy ${args.join(' ')} did not end within ${timeoutMs} ms:\n${stdout}${stderr}`)
  }
  return { code, stdout, stderr }
}

/** Starts rxt-deploy and resolves once it logs that it is serving; kills it if that takes over `startTimeoutMs`. */
export async function startServer(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  script = mainScript,
  options: {
    /** Drain standard output once serving without keeping it (a benchmark's server logs megabytes). */
    readonly discardOutput?: boolean
    readonly startTimeoutMs?: number
  } = {},
): Promise<Server> {
  const child = spawnRxt(args, env, script)
  let out = ''
  const exited = once(child, 'exit') as Promise<[number | null]>
  /** Checks run on every chunk of output; each resolves and removes itself when satisfied. */
  const watchers = new Set<() => void>()
  const startTimeoutMs = options.startTimeoutMs ?? startBudgetMs
  const url = await new Promise<string>((resolve, reject) => {
    let serving = false
    let partial = ''
    const timer = setTimeout(() => {
      signalGroup(child, 'SIGKILL')
      reject(new Error(`rxt-deploy ${args.join(' ')} did not serve within ${startTimeoutMs} ms:\n${out}`))
    }, startTimeoutMs)
    const onData = (d: Buffer) => {
      if (serving && options.discardOutput === true && watchers.size === 0) return
      out += d
      for (const watcher of watchers) watcher()
      // Only the lines not yet looked at, and none once it serves: a busy server logs a lot.
      if (serving) return
      const lines = (partial + d).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.includes('rxt-deploy is serving')) continue
        serving = true
        clearTimeout(timer)
        resolve(JSON.parse(line).address)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d) => {
      out += d
      for (const watcher of watchers) watcher()
    })
    exited.then(([code]) => {
      clearTimeout(timer)
      reject(new Error(`rxt-deploy exited with ${code} before serving:\n${out}`))
    })
  })
  return {
    child,
    url,
    output: () => out,
    waitForOutput(text, timeoutMs = startBudgetMs) {
      return new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve()
        const timer = setTimeout(() => {
          watchers.delete(check)
          reject(
            new Error(`rxt-deploy did not print ${JSON.stringify(text)} within ${timeoutMs} ms:\n${out}`),
          )
        }, timeoutMs)
        const check = () => {
          if (!out.includes(text)) return
          watchers.delete(check)
          clearTimeout(timer)
          resolve()
        }
        watchers.add(check)
        exited.then(([code]) => {
          if (!watchers.delete(check)) return
          clearTimeout(timer)
          reject(new Error(`rxt-deploy exited with ${code} before printing ${JSON.stringify(text)}:\n${out}`))
        })
      })
    },
    async stop(signal = 'SIGTERM') {
      if (!alive(child)) return child.exitCode
      child.kill(signal)
      const [code] = await exited
      return code
    },
  }
}
