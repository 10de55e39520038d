// Placement (issue: the workload placement engine): recommendations per second over BENCH_MANIFESTS
// (1,000) generated deploy.yaml files × 4 providers, in the same run:
//   pure:          recommend() of the domain alone (the decision matrix, costs, scores), in a loop
//   http (fresh):  POST /v1/placement/recommend, each manifest new: weighed, stored, published
//   http (reused): the same again: the stored decision found by its inputs and returned
// and the cost of explaining a decision: GET /v1/placement/explain/:envId (read as stored) p50/p99,
// beside recomputing it (pure recommend() of the same inputs, and a fresh POST) with the ratio.
// Embedded mode (PGlite, the bus on the Postgres log), identity, registry, sim, router and placement
// in this process; the four providers: the two simulations, RXT Spot's provider.yaml and a fourth VM
// provider written for the run (health reported for all four).
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sim, simProviderFiles } from '@rxt/adapter-sim'
import { type DeployManifest, loadManifest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, createLogger, defineContext, openDatabase } from '@rxt/kit'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { placement, recommend } from '@rxt/placement'
import { loadProviderManifest, type ProviderManifest } from '@rxt/platform-sdk'
import { registry } from '@rxt/registry'
import { router } from '@rxt/router'

const count = Number(process.env.BENCH_MANIFESTS ?? 1000)
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}
const ms = (v: number) => `${v.toFixed(3)} ms`
const perSecond = (n: number, elapsedMs: number) =>
  `${Math.round((n / elapsedMs) * 1000).toLocaleString('en')}/s`

/** The i-th generated deploy.yaml: sizes, replicas, state, compliance and protocols vary with i. */
function manifestText(i: number): string {
  const cpu = ['250m', '500m', '1', '2', '4'][i % 5]
  const memory = ['256Mi', '512Mi', '1Gi', '4Gi'][i % 4]
  const compliance = [[], [], ['soc2'], ['pci-dss'], ['hipaa']][i % 5] ?? []
  const stateful = i % 3 === 0
  const protocol = ['http', 'grpc', 'tcp'][i % 3]
  return `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: app-${i}}
spec:
  image: ghcr.io/bench/app:${i}
  replicas: ${1 + (i % 7)}
  stateful: ${stateful}
  resources: {cpu: "${cpu}", memory: ${memory}}
  platform: {preference: ${['auto', 'auto', 'container', 'vm'][i % 4]}${compliance.length > 0 ? `, constraints: {compliance: [${compliance.join(', ')}]}` : ''}}
  ports: [{name: main, port: 8080, protocol: ${protocol}}]
${stateful ? '  volumes: [{name: data, mountPath: /data, size: 10Gi}]\n' : ''}`
}

const manifests: { text: string; manifest: DeployManifest }[] = Array.from({ length: count }, (_, i) => {
  const text = manifestText(i)
  const loaded = loadManifest(text)
  if (!loaded.ok)
    throw new Error(`generated manifest ${i} is not valid: ${JSON.stringify(loaded.violations)}`)
  return { text, manifest: loaded.manifest }
})

const providerOf = (text: string): ProviderManifest => {
  const loaded = loadProviderManifest(text)
  if (!loaded.ok) throw new Error('a bench provider.yaml is valid')
  return loaded.value
}

async function bench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rxt-placement-bench-'))
  const fourth = join(dir, 'bench-vm.yaml')
  await writeFile(
    fourth,
    readFileSync(simProviderFiles[1] as string, 'utf8')
      .replace('name: sim-vm', 'name: bench-vm')
      .replace('vcpuHour: 0.035', 'vcpuHour: 0.03'),
  )
  const spotFile = new URL('../../adapters/spot/providers/rxt-spot.yaml', import.meta.url).pathname
  const files = [...simProviderFiles, spotFile, fourth]
  const providers = files.map((f) => providerOf(readFileSync(f, 'utf8')))
  const now = new Date()
  const healthy = { healthy: true, checkedAt: now.toISOString(), message: 'ok' }

  // Pure: the domain alone, 4 providers a manifest.
  const views = providers.map((manifest) => ({ manifest, enabled: true, health: healthy }))
  for (const m of manifests.slice(0, 100)) recommend({ manifest: m.manifest, providers: views, now })
  const pureStart = performance.now()
  const rounds = 5
  let eligible = 0
  for (let r = 0; r < rounds; r++)
    for (const m of manifests) if (recommend({ manifest: m.manifest, providers: views, now }).ok) eligible++
  const pureMs = performance.now() - pureStart
  const pureEach: number[] = []
  for (const m of manifests) {
    const t = performance.now()
    recommend({ manifest: m.manifest, providers: views, now })
    pureEach.push(performance.now() - t)
  }

  // Through the handler and the store (HTTP, embedded mode).
  const database = await openDatabase({ kind: 'pglite' }, createLogger({ level: 'silent' }))
  let driver: ContextDeps<unknown> | undefined
  const harness = defineContext({
    name: 'harness',
    start: (deps) => {
      driver = deps as ContextDeps<unknown>
    },
  })
  const runtime = await startTestRuntime({
    contexts: [identity, registry, sim, router, placement, harness],
    database,
    env: {
      WEBHOOK_KEY: randomBytes(32).toString('base64url'),
      PROVIDER_FILES: files.join(','),
      RATE_LIMIT_PER_MINUTE: '100000000',
    },
  })
  try {
    const owner = await signUp(runtime, 'bench@example.com')
    const call = async (method: string, url: string, payload?: object) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: owner.authorization },
        ...(payload === undefined ? {} : { payload }),
      })
      return { status: res.statusCode, body: res.json() }
    }
    // The providers with no adapter in this process report healthy through the harness.
    for (const provider of ['rxt-spot', 'bench-vm'])
      await driver?.db.transaction((tx) =>
        (driver as ContextDeps<unknown>).bus.publish(tx, {
          type: 'evt.provider.health',
          tenantId: null,
          key: provider,
          data: {
            provider,
            healthy: true,
            latencyMs: 1,
            message: 'bench',
            checkedAt: now.toISOString(),
            intervalMs: 3_600_000,
          },
        }),
      )
    const project = await call('POST', '/v1/projects', { slug: 'bench', name: 'Bench' })
    const env = await call('POST', `/v1/projects/${project.body.id}/environments`, {
      name: 'production',
      type: 'production',
    })
    const envId = env.body.id as string
    await until(
      async () => {
        const res = await call('POST', '/v1/placement/recommend', { yaml: manifests[1]?.text, envId })
        return (
          res.status === 200 &&
          res.body.candidates.length === 4 &&
          res.body.candidates.every(
            (c: { filters: { name: string; passed: boolean }[] }) =>
              c.filters.find((f) => f.name === 'healthy')?.passed,
          )
        )
      },
      30_000,
      'placement hears of the four providers, their health and the environment',
    )
    const timed = async (label: string) => {
      const each: number[] = []
      let refused = 0
      const start = performance.now()
      for (const m of manifests) {
        const t = performance.now()
        const res = await call('POST', '/v1/placement/recommend', { yaml: m.text, envId })
        each.push(performance.now() - t)
        if (res.status === 422) refused++
        else if (res.status !== 200) throw new Error(`${label}: ${res.status} ${JSON.stringify(res.body)}`)
      }
      return { elapsed: performance.now() - start, each, refused }
    }
    const fresh = await timed('fresh')
    const reused = await timed('reused')
    // Explain: the last decision of the environment, as stored.
    const explain: number[] = []
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      const res = await call('GET', `/v1/placement/explain/${envId}`)
      explain.push(performance.now() - t)
      if (res.status !== 200) throw new Error(`explain: ${res.status}`)
    }

    console.log(
      `${count} generated manifests × ${providers.length} providers (${providers.map((p) => p.metadata.name).join(', ')})`,
    )
    console.log(
      `pure recommend():          ${perSecond(count * rounds, pureMs)}  p50 ${ms(percentile(pureEach, 50))}  p99 ${ms(percentile(pureEach, 99))}  (${Math.round((eligible / (count * rounds)) * 100)}% placed)`,
    )
    console.log(
      `POST /recommend (fresh):   ${perSecond(count, fresh.elapsed)}  p50 ${ms(percentile(fresh.each, 50))}  p99 ${ms(percentile(fresh.each, 99))}  (${fresh.refused} refused 422: no provider)`,
    )
    console.log(
      `POST /recommend (reused):  ${perSecond(count, reused.elapsed)}  p50 ${ms(percentile(reused.each, 50))}  p99 ${ms(percentile(reused.each, 99))}`,
    )
    console.log(
      `GET /explain (from store): p50 ${ms(percentile(explain, 50))}  p99 ${ms(percentile(explain, 99))}`,
    )
    console.log(
      `ratios: explain-from-store p50 / fresh recommend p50 = ${(percentile(explain, 50) / percentile(fresh.each, 50)).toFixed(2)}; ` +
        `explain p50 / pure recompute p50 = ${(percentile(explain, 50) / percentile(pureEach, 50)).toFixed(1)}; ` +
        `reused / fresh throughput = ${(fresh.elapsed / reused.elapsed).toFixed(2)}`,
    )
  } finally {
    await runtime.stop()
    await database.close()
    await rm(dir, { recursive: true, force: true })
  }
}

await bench()
