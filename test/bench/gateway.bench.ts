// An authenticated GET through the edge of `rxt-deploy up` against a bare Fastify route, in the same
// run: requests per second at saturation (alternating rounds), and p99 latency at a fixed 1,000 requests
// per second. The route is GET /v1/auth/whoami, whose handler reads nothing: what is measured is the edge —
// security headers, CORS, the JWT check, the caller's principal, the rate limit, the request log.
import { startServer } from '../../apps/server/test/process.ts'
import { bareScript, latencyAt, load, median, startKitServer } from './servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 6)
const duration = Number(process.env.BENCH_SECONDS ?? 2)
const connections = 16

const bare = await startServer([], {}, bareScript)
// The limit is per organisation; a benchmark is one organisation sending everything.
const kit = await startKitServer({ RATE_LIMIT_PER_MINUTE: '100000000' })
try {
  const signup = await fetch(`${kit.url}/v1/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'bench@example.com',
      password: 'a long passphrase',
      name: 'Bench',
      orgName: 'Bench',
    }),
  })
  const { accessToken } = (await signup.json()) as { accessToken: string }
  const path = '/v1/auth/whoami'
  const auth = { authorization: `Bearer ${accessToken}` }

  await load(bare, '/healthz', 2, connections)
  await load(kit, path, 2, connections, auth)
  const bareRuns: { rps: number; cpuUs: number }[] = []
  const kitRuns: { rps: number; cpuUs: number }[] = []
  for (let i = 0; i < rounds; i++) {
    bareRuns.push(await load(bare, '/healthz', duration, connections))
    kitRuns.push(await load(kit, path, duration, connections, auth))
  }
  const rps = (runs: typeof bareRuns) => Math.round(median(runs.map((r) => r.rps)))
  const cpu = (runs: typeof bareRuns) => median(runs.map((r) => r.cpuUs)).toFixed(1)
  const ratio = median(kitRuns.map((k, i) => k.rps / (bareRuns[i]?.rps ?? Number.NaN)))
  console.log(
    `${rounds} rounds of ${duration} s, ${connections} connections, alternating; then 1,000 req/s for 10 s each`,
  )
  console.log(
    `bare fastify GET /healthz:              ${rps(bareRuns)} req/s, ${cpu(bareRuns)} µs CPU/request`,
  )
  console.log(
    `rxt-deploy up GET /v1/auth/whoami (JWT): ${rps(kitRuns)} req/s, ${cpu(kitRuns)} µs CPU/request`,
  )
  console.log(
    `ratio req/s gateway/bare (median of paired rounds): ${ratio.toFixed(3)} (target >= 0.5) ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`,
  )

  const bareAt = await latencyAt(bare, '/healthz', 1000, 10)
  const kitAt = await latencyAt(kit, path, 1000, 10, auth)
  console.log(
    `at 1,000 req/s: bare p50 ${bareAt.p50} ms p99 ${bareAt.p99} ms; gateway p50 ${kitAt.p50} ms p99 ${kitAt.p99} ms`,
  )
  console.log(`p99 at 1,000 req/s: ${kitAt.p99} ms (target < 25 ms) ${kitAt.p99 < 25 ? 'MET' : 'NOT MET'}`)
} finally {
  await bare.stop()
  await kit.stop()
}
