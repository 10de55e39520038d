// What a push costs on the way in. Manifests: deploy.yaml loaded (YAML 1.2 with its guards), validated,
// defaults applied, canonicalised and digested, per second, against a baseline in the same run that
// only parses the YAML with the same parser, serialises it and hashes it (no guards, no schema, no
// canonical form): the ratio is what checking costs.
// Target: at least 5,000 manifests a second.
//
// Webhooks: signed push deliveries (each a distinct push with its own delivery id) to `rxt-deploy up`,
// which checks the signature, stores the delivery and publishes evt.commit.pushed in one transaction,
// against a bare Fastify route that only checks the same signature and parses the payload (the target:
// a requests-per-second ratio of at least 0.8), and against the same route storing each delivery with
// one INSERT on the same kind of database (the least that storing before answering costs),
// alternating rounds in the same run.
//
// Refusals: what a delivery nobody signed costs the server, and everyone else while such deliveries
// arrive. Unsigned and wrongly signed deliveries of 10 MB and of 1 KB to a project's webhook URL (a few
// senders at once, each delivery on a connection of its own, bounded in count and time, over
// loopback), on a server of their own: the time until each is answered 401, and the p99 of /healthz
// asked all the while, beside /healthz with nothing else arriving.
//
// BENCH_INGEST=manifests,webhooks,refusals picks the parts (all by default).
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sign } from '@octokit/webhooks-methods'
import { loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import autocannon from 'autocannon'
import { load } from 'js-yaml'
import { type Server, startServer } from '../../apps/server/test/process.ts'
import { cpuTicks, median, startKitServer } from './servers.ts'

const parts = new Set((process.env.BENCH_INGEST ?? 'manifests,webhooks,refusals').split(','))

const text = readFileSync(
  new URL('../../packages/contracts/src/manifest/fixtures/full.yaml', import.meta.url),
  'utf8',
)
const rounds = Number(process.env.BENCH_ROUNDS ?? 7)
const seconds = Number(process.env.BENCH_SECONDS ?? 1)

const perSecond = (work: () => void): number => {
  const end = performance.now() + seconds * 1000
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) work()
    n += 50
  }
  return n / seconds
}

let sink = ''
const full = () => {
  const loaded = loadManifest(text)
  if (!loaded.ok) throw new Error('the fixture is valid')
  sink = manifestDigest(loaded.manifest)
}
const bare = () => {
  sink = createHash('sha256')
    .update(JSON.stringify(load(text)))
    .digest('hex')
}

if (parts.has('manifests')) {
  perSecond(full) // warm-up
  perSecond(bare)
  const fullRuns: number[] = []
  const bareRuns: number[] = []
  for (let i = 0; i < rounds; i++) {
    fullRuns.push(perSecond(full))
    bareRuns.push(perSecond(bare))
  }
  const m = median(fullRuns)
  console.log(
    `${rounds} alternating rounds of ${seconds} s; the manifest is full.yaml (${text.length} bytes)`,
  )
  console.log(`baseline js-yaml load + JSON + sha256:          ${Math.round(median(bareRuns))}/s`)
  console.log(`loadManifest + canonical form + digest:          ${Math.round(m)}/s`)
  console.log(`ratio to the baseline: ${(m / median(bareRuns)).toFixed(3)}`)
  console.log(
    `manifests a second: ${Math.round(m)} (target >= 5,000) ${m >= 5000 ? 'MET' : 'NOT MET'}${sink === '' ? '' : ''}`,
  )
}

// Webhooks.
const webhookSeconds = Number(process.env.BENCH_SECONDS ?? 2)
const webhookRounds = Number(process.env.BENCH_ROUNDS ?? 4)
const kitServer = () =>
  startKitServer({
    WEBHOOK_KEY: randomBytes(32).toString('base64url'),
    RATE_LIMIT_PER_MINUTE: '100000000',
    ...(process.env.BENCH_DATABASE_URL === undefined ? {} : { DATABASE_URL: process.env.BENCH_DATABASE_URL }),
  })
/** A push of the benchmark's project to a deploy branch. */
const body = JSON.stringify({
  ref: 'refs/heads/main',
  before: '0'.repeat(40),
  after: 'a'.repeat(40),
  repository: { full_name: 'acme/bench', default_branch: 'main' },
  pusher: { name: 'bench' },
  head_commit: { message: 'Bench', timestamp: '2026-11-23T00:00:00Z', author: { name: 'Bench' } },
})

/**
 * An account and a project on `server`, verified by its ping so that its pushes are published
 * (ADR 0016): the project's secret and the path of its webhook URL.
 */
async function verifiedProject(server: Server): Promise<{ secret: string; hookPath: string }> {
  const post = async (path: string, payload: unknown, headers: Record<string, string> = {}) =>
    (await (
      await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(payload),
      })
    ).json()) as unknown
  const signup = (await post('/v1/auth/signup', {
    email: 'bench@example.com',
    password: 'a long passphrase',
    name: 'B',
    orgName: 'B',
  })) as { accessToken: string }
  const project = (await post(
    '/v1/projects',
    { slug: 'bench', name: 'Bench', repository: 'acme/bench', deployBranches: ['main'] },
    { authorization: `Bearer ${signup.accessToken}` },
  )) as { webhook: { url: string; secret: string } }
  const hookPath = new URL(project.webhook.url).pathname
  const ping = JSON.stringify({ zen: 'Bench.', hook_id: 1, repository: { full_name: 'acme/bench' } })
  const pingOnce = async () =>
    (
      await fetch(`${server.url}${hookPath}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'ping',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': await sign(project.webhook.secret, ping),
        },
        body: ping,
      })
    ).status
  // vcs learns of the project through the bus first.
  for (let i = 0; (await pingOnce()) !== 202; i++) {
    if (i > 100) throw new Error('the project never reached vcs')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { secret: project.webhook.secret, hookPath }
}

if (parts.has('webhooks')) {
  let bareHook: Server | undefined
  let storeHook: Server | undefined
  let storeDir: string | undefined
  const kit = await kitServer()
  try {
    const { secret, hookPath } = await verifiedProject(kit)
    const signature = await sign(secret, body)
    let pushes = 0
    const distinctPush = () => {
      const after = (++pushes).toString(16).padStart(40, '0')
      const text = body.replace('a'.repeat(40), after)
      return { body: text, signature: `sha256=${createHmac('sha256', secret).update(text).digest('hex')}` }
    }
    const bareWebhook = fileURLToPath(new URL('./fixtures/bare-webhook.ts', import.meta.url))
    bareHook = await startServer([], { BENCH_WEBHOOK_SECRET: secret }, bareWebhook)
    storeDir = await mkdtemp(join(tmpdir(), 'rxt-bench-store-'))
    storeHook = await startServer(
      [],
      {
        BENCH_WEBHOOK_SECRET: secret,
        ...(process.env.BENCH_DATABASE_URL === undefined
          ? { BENCH_WEBHOOK_STORE: storeDir }
          : { BENCH_WEBHOOK_STORE_URL: process.env.BENCH_DATABASE_URL }),
      },
      bareWebhook,
    )
    const load = async (server: Server) => {
      const result = await autocannon({
        url: `${server.url}${hookPath}`,
        connections: 16,
        duration: webhookSeconds,
        requests: [
          {
            method: 'POST',
            body,
            headers: {
              'content-type': 'application/json',
              'x-github-event': 'push',
              'x-hub-signature-256': signature,
            },
            // Every delivery is a push of its own: its own id and bytes, signed (a repeated id or body is a
            // cheaper duplicate). Both servers get the same kind of distinct deliveries.
            setupRequest: (request) => {
              const push = distinctPush()
              return {
                ...request,
                body: push.body,
                headers: {
                  ...request.headers,
                  'x-github-delivery': randomUUID(),
                  'x-hub-signature-256': push.signature,
                },
              }
            },
          },
        ],
      })
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`)
      return result.requests.average
    }
    const stored = storeHook
    await load(bareHook)
    await load(stored)
    await load(kit)
    const rounds: { kit: number; bare: number; stored: number }[] = []
    for (let i = 0; i < webhookRounds; i++)
      rounds.push({ bare: await load(bareHook), stored: await load(stored), kit: await load(kit) })
    const ratio = median(rounds.map((r) => r.kit / r.bare))
    const storedRatio = median(rounds.map((r) => r.kit / r.stored))
    const rate = (key: 'kit' | 'bare' | 'stored') => Math.round(median(rounds.map((r) => r[key])))
    const where = process.env.BENCH_DATABASE_URL === undefined ? 'PGlite' : 'PostgreSQL'
    console.log(
      `webhooks: ${webhookRounds} alternating rounds of ${webhookSeconds} s, 16 connections, on ${where}`,
    )
    console.log(`bare fastify, the same signature check:        ${rate('bare')} req/s`)
    console.log(`bare fastify, the check and one INSERT:        ${rate('stored')} req/s`)
    console.log(`rxt-deploy up, checked, stored and published:  ${rate('kit')} req/s`)
    console.log(
      `ratio to the bare check + INSERT: ${storedRatio.toFixed(3)} (what the kit costs beyond storing)`,
    )
    console.log(
      `ratio to the bare check (median of paired rounds): ${ratio.toFixed(3)} (target >= 0.8) ${ratio >= 0.8 ? 'MET' : 'NOT MET'}`,
    )
  } finally {
    await bareHook?.stop()
    await storeHook?.stop()
    if (storeDir !== undefined) await rm(storeDir, { recursive: true, force: true })
    await kit.stop()
  }
}

if (parts.has('refusals')) {
  const server = await kitServer()
  try {
    const { hookPath } = await verifiedProject(server)
    await refusals(server, hookPath)
  } finally {
    await server.stop()
  }
}

/** The q-quantile of some milliseconds (nearest rank). */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
}

/**
 * One POST over loopback on a connection of its own: milliseconds until the answer's status line
 * arrived, and the status. The body is written as fast as the socket takes it; once the answer is in,
 * the connection is closed, whatever of the body is still unsent (as a refused sender would). A
 * connection the server ends before its answer could be read counts as refused at that moment, with
 * status 0.
 */
function post(
  url: URL,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ ms: number; status: number }> {
  return new Promise((resolve) => {
    const start = performance.now()
    const socket = connect(Number(url.port), url.hostname)
    let answer = ''
    let done = false
    const finish = (status: number) => {
      if (done) return
      done = true
      socket.destroy()
      resolve({ ms: performance.now() - start, status })
    }
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
      if (answer.includes('\r\n')) finish(Number(answer.slice(9, 12)))
    })
    socket.on('error', () => finish(0))
    socket.on('close', () => finish(0))
    const lines = Object.entries({ host: url.host, ...headers }).map(([name, value]) => `${name}: ${value}`)
    socket.write(`POST ${url.pathname} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`)
    socket.end(body)
  })
}

/** GET /healthz one after another, a few milliseconds apart, until `done` says stop: each one's milliseconds. */
async function probeHealth(base: URL, done: () => boolean): Promise<number[]> {
  const times: number[] = []
  while (!done()) {
    times.push(
      await new Promise<number>((resolve, reject) => {
        const start = performance.now()
        const req = httpRequest({ host: base.hostname, port: base.port, path: '/healthz' }, (res) => {
          res.resume()
          res.on('end', () => resolve(performance.now() - start))
        })
        req.on('error', reject)
        req.end()
      }),
    )
    // A probe every 5 ms at most: a load balancer's health check, not a second flood.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return times
}

/** Deliveries nobody signed (or signed wrongly), of 10 MB and of 1 KB, and /healthz while they arrive. */
async function refusals(server: Server, hookPath: string): Promise<void> {
  const base = new URL(server.url)
  const hook = new URL(hookPath, base)
  const pid = server.child.pid as number
  const senders = Number(process.env.BENCH_REFUSAL_SENDERS ?? 4)
  const limitMs = Number(process.env.BENCH_REFUSAL_SECONDS ?? 10) * 1000
  /** The push padded to `bytes` with a field GitHub does not send (it is never parsed). */
  const padded = (bytes: number) =>
    Buffer.from(`${body.slice(0, -1)},"pad":"${'x'.repeat(Math.max(0, bytes - body.length - 10))}"}`)
  const sizes = {
    '10 MB': { body: padded(10 * 1024 * 1024), count: Number(process.env.BENCH_REFUSALS_LARGE ?? 100) },
    '1 KB': { body: padded(1024), count: Number(process.env.BENCH_REFUSALS_SMALL ?? 3000) },
  }
  const wrong = `sha256=${createHmac('sha256', 'not the secret').update('x').digest('hex')}`
  const ms = (value: number) => `${value.toFixed(2)} ms`

  const flood = async (size: keyof typeof sizes, signature: string | undefined) => {
    const { body: payload, count } = sizes[size]
    const times: number[] = []
    const statuses = new Map<number, number>()
    const deadline = performance.now() + limitMs
    let sent = 0
    let finished = false
    const health = probeHealth(base, () => finished)
    const sender = async () => {
      while (sent < count && performance.now() < deadline) {
        sent++
        const answer = await post(
          hook,
          {
            'content-type': 'application/json',
            'content-length': String(payload.length),
            'x-github-event': 'push',
            'x-github-delivery': randomUUID(),
            ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
          },
          payload,
        )
        times.push(answer.ms)
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
      }
    }
    const started = performance.now()
    const ticks = cpuTicks(pid)
    try {
      await Promise.all(Array.from({ length: senders }, sender))
    } finally {
      finished = true
    }
    const seconds = (performance.now() - started) / 1000
    // The server's CPU (user + system) per delivery, the probes' share included.
    const cpuMs = ((cpuTicks(pid) - ticks) * 10) / Math.max(1, times.length)
    return { times, statuses, seconds, cpuMs, health: await health }
  }

  const quietUntil = performance.now() + 3000
  const quiet = await probeHealth(base, () => performance.now() > quietUntil)
  console.log(
    `refusals: ${senders} senders at once to the project's webhook URL, a connection per delivery, over loopback, at most ${limitMs / 1000} s a case`,
  )
  console.log(
    `/healthz with nothing else arriving:  p50 ${ms(quantile(quiet, 0.5))}, p99 ${ms(quantile(quiet, 0.99))} (${quiet.length} probes)`,
  )
  for (const [label, signature] of [
    ['unsigned', undefined],
    ['wrongly signed', wrong],
  ] as const) {
    for (const size of ['10 MB', '1 KB'] as const) {
      const run = await flood(size, signature)
      const statuses = [...run.statuses]
        .map(([status, n]) => `${n}× ${status === 0 ? 'reset' : status}`)
        .join(', ')
      console.log(
        `${`${label} ${size}:`.padEnd(22)} time to 401 p50 ${ms(quantile(run.times, 0.5))}, p99 ${ms(quantile(run.times, 0.99))}, server CPU ${ms(run.cpuMs)} each; ` +
          `/healthz meanwhile p50 ${ms(quantile(run.health, 0.5))}, p99 ${ms(quantile(run.health, 0.99))} ` +
          `(${run.times.length} deliveries in ${run.seconds.toFixed(1)} s: ${statuses}; ${run.health.length} probes)`,
      )
    }
  }
}
