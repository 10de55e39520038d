// /healthz requests per second through the kit's app (the real `rxt-deploy up`) against a bare Fastify
// app, measured in the same run with autocannon, alternating rounds so drift hits both alike.

import { type Server, startServer } from '../../apps/server/test/process.ts'
import { bareScript, load as loadPath, median, startKitServer } from './servers.ts'

// Many short alternating rounds, compared pairwise: this machine's speed drifts by tens of percent
// within a minute, and a pair of neighbouring rounds sees the same drift.
const rounds = Number(process.env.BENCH_ROUNDS ?? 10)
const duration = Number(process.env.BENCH_SECONDS ?? 2)
const connections = 16
const load = (server: Server, seconds: number) => loadPath(server, '/healthz', seconds, connections)

const bare = await startServer([], {}, bareScript)
const kit = await startKitServer()
try {
  await load(bare, 2) // warm-up: JIT and connection setup
  await load(kit, 2)
  const bareRuns: { rps: number; cpuUs: number }[] = []
  const kitRuns: { rps: number; cpuUs: number }[] = []
  for (let i = 0; i < rounds; i++) {
    bareRuns.push(await load(bare, duration))
    kitRuns.push(await load(kit, duration))
  }
  const rps = (runs: typeof bareRuns) => median(runs.map((r) => r.rps))
  const cpu = (runs: typeof bareRuns) => median(runs.map((r) => r.cpuUs))
  const fmt = (runs: typeof bareRuns) => runs.map((r) => Math.round(r.rps)).join(', ')
  const ratio = median(kitRuns.map((k, i) => k.rps / (bareRuns[i]?.rps ?? Number.NaN)))
  console.log(`${rounds} rounds of ${duration} s, ${connections} connections, alternating`)
  console.log(
    `bare fastify  /healthz: ${Math.round(rps(bareRuns))} req/s (rounds: ${fmt(bareRuns)}), ${cpu(bareRuns).toFixed(1)} µs CPU/request`,
  )
  console.log(
    `rxt-deploy up /healthz: ${Math.round(rps(kitRuns))} req/s (rounds: ${fmt(kitRuns)}), ${cpu(kitRuns).toFixed(1)} µs CPU/request`,
  )
  console.log(`CPU per request kit/bare: ${(cpu(kitRuns) / cpu(bareRuns)).toFixed(3)}`)
  console.log(
    `ratio req/s kit/bare (median of paired rounds): ${ratio.toFixed(3)} (target >= 0.9) ${ratio >= 0.9 ? 'MET' : 'NOT MET'}`,
  )
} finally {
  await bare.stop()
  await kit.stop()
}
