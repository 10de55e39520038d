// An authenticated GET through the edge of `rxt-deploy up` against two baselines, in the same run: a bare
// Fastify /healthz, and the same authenticated GET written the usual way with Fastify (fixtures/fair-fastify.ts:
// jose EdDSA verification of the very token the kit verifies, @fastify/rate-limit, security headers, a pino
// line per request). Requests per second at saturation (alternating rounds, compared pairwise), the server's
// CPU per request, and p99 latency at a fixed 1,000 requests per second. The route is GET /v1/auth/whoami,
// whose handler reads nothing: what is measured is the edge — security headers, CORS, the JWT check, the
// caller's principal, the rate limit, the request log.

import { setTimeout as sleep } from 'node:timers/promises'
import { startServer } from '../../apps/server/test/process.ts'
import { bareScript, cpuTicks, fairScript, latencyAt, load, median, startKitServer } from './servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 6)
const duration = Number(process.env.BENCH_SECONDS ?? 2)
const connections = 16

const bare = await startServer([], {}, bareScript)
// The limit is per organisation; a benchmark is one organisation sending everything.
const database = process.env.BENCH_DATABASE_URL
const kit = await startKitServer({
  RATE_LIMIT_PER_MINUTE: '100000000',
  ...(database === undefined ? {} : { DATABASE_URL: database }),
})
let fair: Awaited<ReturnType<typeof startServer>> | undefined
try {
  const signup = await fetch(`${kit.url}/v1/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `bench-${Date.now()}@example.com`,
      password: 'a long passphrase',
      name: 'Bench',
      orgName: 'Bench',
    }),
  })
  const { accessToken } = (await signup.json()) as { accessToken: string }
  // The fair app verifies the kit's token with the kit's public keys: the same token, size and algorithm.
  const jwks = await (await fetch(`${kit.url}/v1/.well-known/jwks.json`)).text()
  fair = await startServer([], { FAIR_JWKS: jwks }, fairScript, { discardOutput: true })
  const path = '/v1/auth/whoami'
  const auth = { authorization: `Bearer ${accessToken}` }

  await load(bare, '/healthz', 2, connections)
  await load(fair, path, 2, connections, auth)
  await load(kit, path, 2, connections, auth)
  // What each server spends with no request at all (the kit's contexts poll their bus and run their
  // jobs): it shares the CPU with the requests, and bounds what the request path can gain.
  const idleMs = async (server: typeof kit, seconds = 3) => {
    const pid = server.child.pid as number
    const before = cpuTicks(pid)
    await sleep(seconds * 1000)
    return ((cpuTicks(pid) - before) * 10) / seconds
  }
  // A fresh `up` keeps working for a while after it serves (its contexts' first turns, the sign-up's
  // events): the rounds start once its idle CPU stops falling (2 s windows, at most a minute), so that
  // they measure the edge, not the start.
  const settleStart = Date.now()
  let kitIdle = await idleMs(kit, 2)
  for (;;) {
    if (Date.now() - settleStart > 60_000) break
    const next = await idleMs(kit, 2)
    const settled = next >= kitIdle * 0.85
    kitIdle = Math.min(kitIdle, next)
    if (settled) break
  }
  const settledAfter = (Date.now() - settleStart) / 1000
  const fairIdle = await idleMs(fair)
  type Run = { rps: number; cpuUs: number }
  const bareRuns: Run[] = []
  const fairRuns: Run[] = []
  const kitRuns: Run[] = []
  for (let i = 0; i < rounds; i++) {
    bareRuns.push(await load(bare, '/healthz', duration, connections))
    fairRuns.push(await load(fair, path, duration, connections, auth))
    kitRuns.push(await load(kit, path, duration, connections, auth))
  }
  const rps = (runs: Run[]) => Math.round(median(runs.map((r) => r.rps)))
  const cpu = (runs: Run[]) => median(runs.map((r) => r.cpuUs)).toFixed(1)
  const rounded = (runs: Run[]) => runs.map((r) => Math.round(r.rps)).join(', ')
  const pairwise = (runs: Run[], baseline: Run[]) =>
    median(runs.map((k, i) => k.rps / (baseline[i]?.rps ?? Number.NaN)))
  const ratio = pairwise(kitRuns, bareRuns)
  const fairRatio = pairwise(kitRuns, fairRuns)
  console.log(
    `${rounds} rounds of ${duration} s, ${connections} connections, alternating; then 1,000 req/s for 10 s each; rxt-deploy on ${database === undefined ? 'PGlite' : 'PostgreSQL'}`,
  )
  console.log(
    `bare fastify GET /healthz:              ${rps(bareRuns)} req/s, ${cpu(bareRuns)} µs CPU/request (rounds: ${rounded(bareRuns)})`,
  )
  console.log(
    `fair fastify GET /v1/auth/whoami (JWT): ${rps(fairRuns)} req/s, ${cpu(fairRuns)} µs CPU/request (rounds: ${rounded(fairRuns)})`,
  )
  console.log(
    `rxt-deploy up GET /v1/auth/whoami (JWT): ${rps(kitRuns)} req/s, ${cpu(kitRuns)} µs CPU/request (rounds: ${rounded(kitRuns)})`,
  )
  console.log(
    `ratio req/s gateway/bare (median of paired rounds): ${ratio.toFixed(3)} (target >= 0.5) ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`,
  )
  console.log(
    `ratio req/s gateway/fair (median of paired rounds): ${fairRatio.toFixed(3)} (target >= 1.0) ${fairRatio >= 1 ? 'MET' : 'NOT MET'}`,
  )
  console.log(`CPU per request gateway/fair: ${(Number(cpu(kitRuns)) / Number(cpu(fairRuns))).toFixed(3)}`)
  // The request path alone: each round's CPU per request less its share of the idle background.
  const beyondIdle = (runs: Run[], idle: number) =>
    median(runs.map((r) => r.cpuUs - (idle * 1000) / r.rps)).toFixed(1)
  console.log(
    `idle CPU: gateway ${kitIdle.toFixed(0)} ms/s (settled after ${settledAfter.toFixed(0)} s), fair ${fairIdle.toFixed(0)} ms/s; CPU per request less the idle background: gateway ${beyondIdle(kitRuns, kitIdle)} µs, fair ${beyondIdle(fairRuns, fairIdle)} µs`,
  )

  const bareAt = await latencyAt(bare, '/healthz', 1000, 10)
  const fairAt = await latencyAt(fair, path, 1000, 10, auth)
  const kitAt = await latencyAt(kit, path, 1000, 10, auth)
  console.log(
    `at 1,000 req/s: bare p50 ${bareAt.p50} ms p99 ${bareAt.p99} ms; fair p50 ${fairAt.p50} ms p99 ${fairAt.p99} ms; gateway p50 ${kitAt.p50} ms p99 ${kitAt.p99} ms`,
  )
  console.log(`p99 at 1,000 req/s: ${kitAt.p99} ms (target < 25 ms) ${kitAt.p99 < 25 ? 'MET' : 'NOT MET'}`)
} finally {
  await bare.stop()
  await fair?.stop()
  await kit.stop()
}
