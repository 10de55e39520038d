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
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sign } from '@octokit/webhooks-methods'
import { loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import autocannon from 'autocannon'
import { load } from 'js-yaml'
import { type Server, startServer } from '../../apps/server/test/process.ts'
import { median, startKitServer } from './servers.ts'

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

perSecond(full) // warm-up
perSecond(bare)
const fullRuns: number[] = []
const bareRuns: number[] = []
for (let i = 0; i < rounds; i++) {
  fullRuns.push(perSecond(full))
  bareRuns.push(perSecond(bare))
}
const m = median(fullRuns)
console.log(`${rounds} alternating rounds of ${seconds} s; the manifest is full.yaml (${text.length} bytes)`)
console.log(`baseline js-yaml load + JSON + sha256:          ${Math.round(median(bareRuns))}/s`)
console.log(`loadManifest + canonical form + digest:          ${Math.round(m)}/s`)
console.log(`ratio to the baseline: ${(m / median(bareRuns)).toFixed(3)}`)
console.log(
  `manifests a second: ${Math.round(m)} (target >= 5,000) ${m >= 5000 ? 'MET' : 'NOT MET'}${sink === '' ? '' : ''}`,
)

// Webhooks.
const webhookSeconds = Number(process.env.BENCH_SECONDS ?? 2)
const webhookRounds = Number(process.env.BENCH_ROUNDS ?? 4)
const kit = await startKitServer({
  WEBHOOK_KEY: randomBytes(32).toString('base64url'),
  RATE_LIMIT_PER_MINUTE: '100000000',
  ...(process.env.BENCH_DATABASE_URL === undefined ? {} : { DATABASE_URL: process.env.BENCH_DATABASE_URL }),
})
let bareHook: Server | undefined
let storeHook: Server | undefined
let storeDir: string | undefined
try {
  const signup = (await (
    await fetch(`${kit.url}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'bench@example.com',
        password: 'a long passphrase',
        name: 'B',
        orgName: 'B',
      }),
    })
  ).json()) as { accessToken: string }
  const project = (await (
    await fetch(`${kit.url}/v1/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${signup.accessToken}` },
      body: JSON.stringify({
        slug: 'bench',
        name: 'Bench',
        repository: 'acme/bench',
        deployBranches: ['main'],
      }),
    })
  ).json()) as { webhook: { url: string; secret: string } }
  const secret = project.webhook.secret
  // The project's own webhook URL; the baselines serve the same path.
  const hookPath = new URL(project.webhook.url).pathname
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after: 'a'.repeat(40),
    repository: { full_name: 'acme/bench', default_branch: 'main' },
    pusher: { name: 'bench' },
    head_commit: { message: 'Bench', timestamp: '2026-11-23T00:00:00Z', author: { name: 'Bench' } },
  })
  const signature = await sign(secret, body)
  let pushes = 0
  const distinctPush = () => {
    const after = (++pushes).toString(16).padStart(40, '0')
    const text = body.replace('a'.repeat(40), after)
    return { body: text, signature: `sha256=${createHmac('sha256', secret).update(text).digest('hex')}` }
  }
  // The project's ping: it proves the repository, so that its pushes are published (ADR 0016).
  const ping = JSON.stringify({ zen: 'Bench.', hook_id: 1, repository: { full_name: 'acme/bench' } })
  const pingSignature = await sign(secret, ping)
  const deliver = (url: string) =>
    fetch(`${url}${hookPath}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': pingSignature,
      },
      body: ping,
    })
  // vcs learns of the project through the bus first.
  for (let i = 0; (await deliver(kit.url)).status !== 202; i++) {
    if (i > 100) throw new Error('the project never reached vcs')
    await new Promise((resolve) => setTimeout(resolve, 100))
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
