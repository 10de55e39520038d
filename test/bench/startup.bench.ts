// How long `rxt-deploy up` takes until /healthz answers: on an empty data directory (the embedded
// database is created) and on an existing one; the baseline is a bare Fastify process in the same run.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { mainScript, startServer } from '../../apps/server/test/process.ts'
import { bareScript, median } from './servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

async function timeToHealthy(start: () => ReturnType<typeof startServer>): Promise<number> {
  const t0 = performance.now()
  const server = await start()
  const res = await fetch(`${server.url}/healthz`)
  const elapsed = performance.now() - t0
  if (res.status !== 200) throw new Error(`healthz answered ${res.status}`)
  await server.stop()
  return elapsed
}

const bare: number[] = []
const cold: number[] = []
const warm: number[] = []
for (let i = 0; i < rounds; i++) {
  const dir = await mkdtemp(join(tmpdir(), 'rxt-bench-'))
  bare.push(await timeToHealthy(() => startServer([], {}, bareScript)))
  cold.push(await timeToHealthy(() => startServer(['up'], { RXT_DATA_DIR: dir }, mainScript)))
  warm.push(await timeToHealthy(() => startServer(['up'], { RXT_DATA_DIR: dir }, mainScript)))
  await rm(dir, { recursive: true, force: true })
}
const ms = (xs: number[]) => `${Math.round(median(xs))} ms (rounds: ${xs.map(Math.round).join(', ')})`
console.log(`bare fastify process to /healthz: ${ms(bare)}`)
console.log(
  `rxt-deploy up, empty data dir:    ${ms(cold)}  ratio ${(median(cold) / median(bare)).toFixed(1)}x (target < 10000 ms)`,
)
console.log(
  `rxt-deploy up, existing data dir: ${ms(warm)}  ratio ${(median(warm) / median(bare)).toFixed(1)}x`,
)
