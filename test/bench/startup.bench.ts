// How long `rxt-deploy up` takes from spawn until /healthz answers (it listens) and until /readyz does
// (its consumers and jobs run too), on an empty data directory and on an existing one; the baseline is a
// bare Fastify process in the same run, timed the same way (spawned, /healthz polled every 5 ms).
// The empty data directory is timed twice: with the template `rxt-deploy prepare` makes (what
// `npm install` leaves), and with none (RXT_CACHE_DIR empty: PGlite makes and migrates the database).
// Targets: existing <= 4x the bare process, empty (with the template) <= 8x, both to /healthz.

import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { mainScript, runToEnd, spawnRxt } from '../../apps/server/test/process.ts'
import { bareScript, median } from './servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)

const freePort = async (): Promise<number> => {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

const answers = async (url: string) => {
  try {
    return (await fetch(url)).status === 200
  } catch {
    return false
  }
}

/** Milliseconds from spawn to /healthz, and to /readyz (when asked). */
async function timeStart(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: boolean,
): Promise<{ health: number; ready: number }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const t0 = performance.now()
  const child = spawnRxt(args, { ...env, PORT: String(port), LOG_LEVEL: 'warn' }, script)
  child.stdout.resume()
  child.stderr.resume()
  const exited = once(child, 'exit')
  const until = async (path: string) => {
    while (!(await answers(`${url}${path}`))) {
      if (child.exitCode !== null) throw new Error(`${script} ${args.join(' ')} exited ${child.exitCode}`)
      await sleep(5)
    }
    return performance.now() - t0
  }
  const health = await until('/healthz')
  const readyAt = ready ? await until('/readyz') : health
  child.kill('SIGTERM')
  await exited
  return { health, ready: readyAt }
}

// What `npm install` does: the template of this build (and a warm compile cache).
const prepared = await runToEnd(['prepare'])
if (prepared.code !== 0) throw new Error(`rxt-deploy prepare failed:\n${prepared.stderr}`)
const noCache = await mkdtemp(join(tmpdir(), 'rxt-bench-cache-'))

const bare: number[] = []
const cold = { health: [] as number[], ready: [] as number[] }
const bareCold = { health: [] as number[], ready: [] as number[] }
const warm = { health: [] as number[], ready: [] as number[] }
const push = (into: typeof cold, r: { health: number; ready: number }) => {
  into.health.push(r.health)
  into.ready.push(r.ready)
}
// Each start begins on a quiet disk: what the one before wrote (a database made, a template copied) is
// flushed first, so that its writeback is not timed as part of the next start.
const settle = () => spawnSync('sync')
for (let i = 0; i < rounds; i++) {
  const dir = await mkdtemp(join(tmpdir(), 'rxt-bench-'))
  const other = await mkdtemp(join(tmpdir(), 'rxt-bench-'))
  settle()
  bare.push((await timeStart(bareScript, [], {}, false)).health)
  settle()
  push(cold, await timeStart(mainScript, ['up'], { RXT_DATA_DIR: dir }, true))
  settle()
  push(warm, await timeStart(mainScript, ['up'], { RXT_DATA_DIR: dir }, true))
  settle()
  push(bareCold, await timeStart(mainScript, ['up'], { RXT_DATA_DIR: other, RXT_CACHE_DIR: noCache }, true))
  await rm(dir, { recursive: true, force: true })
  await rm(other, { recursive: true, force: true })
}
await rm(noCache, { recursive: true, force: true })

const ms = (xs: number[]) => `${Math.round(median(xs))} ms`.padStart(8)
const all = (xs: number[]) => `(rounds: ${xs.map(Math.round).join(', ')})`
const base = median(bare)
const ratio = (xs: number[]) => median(xs) / base
const verdict = (xs: number[], target: number) =>
  `ratio ${ratio(xs).toFixed(1)}x (target <= ${target}x: ${ratio(xs) <= target ? 'met' : 'NOT MET'})`
console.log(`${rounds} rounds; medians; spawn to answer, /healthz polled every 5 ms`)
console.log(`bare fastify process, /healthz:                 ${ms(bare)} ${all(bare)}`)
console.log(
  `rxt-deploy up, existing data dir, /healthz:      ${ms(warm.health)} ${verdict(warm.health, 4)} ${all(warm.health)}`,
)
console.log(
  `rxt-deploy up, empty data dir, /healthz:         ${ms(cold.health)} ${verdict(cold.health, 8)} ${all(cold.health)}`,
)
console.log(
  `  the same without the template, /healthz:       ${ms(bareCold.health)} ratio ${ratio(bareCold.health).toFixed(1)}x ${all(bareCold.health)}`,
)
console.log(
  `  /readyz (consumers and jobs started): existing ${ms(warm.ready)}, empty ${ms(cold.ready)}, empty without the template ${ms(bareCold.ready)}`,
)
