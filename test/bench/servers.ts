import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { mainScript, type Server, startServer } from '../../apps/server/test/process.ts'

export const bareScript = fileURLToPath(new URL('./fixtures/bare-fastify.ts', import.meta.url))
/** The gateway benchmark's fair baseline: an authenticated GET written the usual way (see the file). */
export const fairScript = fileURLToPath(new URL('./fixtures/fair-fastify.ts', import.meta.url))

/** `rxt-deploy up` on a fresh data directory, quiet logs; removes the directory when stopped. */
export async function startKitServer(env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'rxt-bench-'))
  // Its log lines are drained, not kept: the load generator shares this process and the machine.
  const server = await startServer(['up'], { RXT_DATA_DIR: dir, LOG_LEVEL: 'info', ...env }, mainScript, {
    discardOutput: true,
  })
  return {
    ...server,
    async stop(signal) {
      const code = await server.stop(signal)
      await rm(dir, { recursive: true, force: true })
      return code
    },
  }
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** CPU time (user + system, in clock ticks of 10 ms) a process has used, from /proc. */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return Number(fields[11]) + Number(fields[12])
}

/** Requests per second at full load, and the server's CPU microseconds per request (steadier on a shared machine). */
export async function load(
  server: Server,
  path: string,
  seconds: number,
  connections: number,
  headers: Record<string, string> = {},
): Promise<{ rps: number; cpuUs: number }> {
  const pid = server.child.pid as number
  const before = cpuTicks(pid)
  const result = await autocannon({
    url: `${server.url}${path}`,
    connections,
    duration: seconds,
    pipelining: 1,
    headers,
  })
  const ticks = cpuTicks(pid) - before
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${server.url}${path}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  }
  return { rps: result.requests.average, cpuUs: (ticks * 10_000) / result.requests.total }
}

/** Latency at a fixed request rate (not at saturation): what a caller sees under a given load. */
export async function latencyAt(
  server: Server,
  path: string,
  perSecond: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<{ p50: number; p99: number; rps: number }> {
  const result = await autocannon({
    url: `${server.url}${path}`,
    connections: 10,
    duration: seconds,
    overallRate: perSecond,
    headers,
    workers: 1,
  })
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${server.url}${path}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  }
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average }
}
