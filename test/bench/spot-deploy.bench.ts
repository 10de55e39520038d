// Deploys through the whole saga onto RXT Spot on the local Kubernetes control plane (tools/peers):
// BENCH_DEPLOYS projects (50 unless given), each with one environment and its manifest, deployed at
// once from a signed GitHub workflow_run delivery each (vcs → evt.image.published → registry →
// cmd.deploy.apply → the orchestrator's saga: the router places it, the spot adapter provisions and
// networks it), all contexts in this process as `rxt-deploy up` runs them, on PostgreSQL (BENCH_DB=pglite:
// the embedded PGlite). Beside it, in the same run and on the same cluster, the baseline: the same objects
// (each plan rendered by the adapter's own render module) for as many environments, applied with
// `kubectl apply --server-side` and waited for with `kubectl rollout status`, all at once.
// Printed: failures (target under 2%), p50/p95 from the delivery to the deployment's ready event, and
// to ready with its Deployment rolled out (what kubectl's rollout status waits for), and the ratios.
import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import examples from '@octokit/webhooks-examples' with { type: 'json' }
import { sign } from '@octokit/webhooks-methods'
import { namespaceOf, renderSpotPlan, spot, spotProviderFile } from '@rxt/adapter-spot'
import type { DeployPlan, Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { createLogger, type Database, defineContext, openDatabase } from '@rxt/kit'
import { createFreshPostgres } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { orchestrator } from '@rxt/orchestrator'
import { placement } from '@rxt/placement'
import { policy } from '@rxt/policy'
import { registry } from '@rxt/registry'
import { router } from '@rxt/router'
import { vcs } from '@rxt/vcs'
import pg from 'pg'
import type { Kube } from '../../adapters/spot/src/kube.ts'
import { rolledOut } from '../../adapters/spot/src/status.ts'
import { prepareCluster, spotKubeconfigPath } from '../../adapters/spot/src/test-cluster.ts'
import { binaries, buildDir } from '../../tools/peers/build.ts'
import { down, isUp, kubeconfigPath, up } from '../../tools/peers/cluster.ts'

const count = Number(process.env.BENCH_DEPLOYS ?? 50)
const postgresUrl = process.env.RXT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const timeoutMs = 600_000
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const p50p95 = (values: number[]) =>
  `p50 ${seconds(percentile(values, 50))}, p95 ${seconds(percentile(values, 95))}`

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads, read field by field
type Payload = Record<string, any>
const example = (event: string, match: (payload: Payload) => boolean = () => true): Payload => {
  const found = (examples as unknown as { name: string; examples: Payload[] }[])
    .find((e) => e.name === event)
    ?.examples.find(match)
  if (found === undefined) throw new Error(`no ${event} example`)
  return found
}
const completed = example('workflow_run', (p) => p.workflow_run.conclusion === 'success')
const ping = example('ping')

/** The workflow run GitHub sends when CI built `commitSha` of main in `repository`. */
const workflowRun = (repository: string, commitSha: string): Payload => ({
  ...completed,
  repository: { full_name: repository },
  workflow_run: {
    ...completed.workflow_run,
    path: '.github/workflows/build.yml',
    conclusion: 'success',
    head_branch: 'main',
    head_sha: commitSha,
  },
})

/** The database the contexts run on: a fresh PostgreSQL database, or PGlite (BENCH_DB=pglite). */
async function openBenchDatabase(): Promise<{ name: string; database: Database; dispose(): Promise<void> }> {
  const silent = createLogger({ level: 'silent' })
  const reachable = async () => {
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 })
    try {
      await client.connect()
      return true
    } catch {
      return false
    } finally {
      await client.end().catch(() => undefined)
    }
  }
  if (process.env.BENCH_DB !== 'pglite' && (await reachable())) {
    const fresh = await createFreshPostgres(postgresUrl)
    const database = await openDatabase({ kind: 'postgres', url: fresh.url, poolMax: 10 }, silent)
    return {
      name: 'PostgreSQL',
      database,
      dispose: async () => {
        await database.close()
        await fresh.drop()
      },
    }
  }
  const database = await openDatabase({ kind: 'pglite' }, silent)
  return { name: 'PGlite', database, dispose: () => database.close() }
}

/** How a deployment ended, as the harness heard it. */
interface Outcome {
  readonly ok: boolean
  /** performance.now() when its evt.deploy.ready or evt.deploy.failed was handled. */
  readonly at: number
  readonly deploymentId: string
  readonly reason?: string
}

/** A plan for another environment: the same objects but its names, its namespace and its host. */
function retarget(plan: DeployPlan, envId: string, host: string): DeployPlan {
  const deploymentId = randomUUID()
  const key = (step: string) => `${deploymentId}:${step}`
  return {
    ...plan,
    deploymentId,
    envId,
    provision: { ...plan.provision, key: key('provision'), envId },
    deploy: { ...plan.deploy, key: key('deploy'), envId },
    network:
      plan.network === null ? null : { ...plan.network, key: key('network'), envId, hostnames: [host] },
  }
}

/** Waits until the environment's Deployment has rolled out, as `kubectl rollout status` does. */
const rolloutOf = (kube: Kube, namespace: string, app: string) =>
  kube.watchUntil(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: app,
      namespace,
      path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
    },
    (object) => object !== undefined && rolledOut(object),
    timeoutMs,
  )

async function bench(): Promise<void> {
  const { admin } = await prepareCluster(kubeconfigPath)
  const db = await openBenchDatabase()
  const run = randomBytes(3).toString('hex')
  const namespaces = new Set<string>()
  /** What the saga did per environment: its plan (the adapter's command), and how it ended. */
  const plans = new Map<string, DeployPlan>()
  const outcomes = new Map<string, Outcome>()
  const harness = defineContext({
    name: 'harness',
    handlers: () => [
      {
        id: 'watch',
        types: ['cmd.spot.provision.request', 'evt.deploy.ready', 'evt.deploy.failed'],
        handle: async (m: Envelope) => {
          const data = m.data as { envId: string; deploymentId: string; step?: string; reason?: string }
          if (m.type === 'cmd.spot.provision.request') {
            const plan = m.data as DeployPlan
            plans.set(plan.envId, plan)
            namespaces.add(namespaceOf(plan.provision))
          } else if (!outcomes.has(data.envId))
            outcomes.set(data.envId, {
              ok: m.type === 'evt.deploy.ready',
              at: performance.now(),
              deploymentId: data.deploymentId,
              ...(m.type === 'evt.deploy.failed' ? { reason: `${data.step}: ${data.reason}` } : {}),
            })
        },
      },
    ],
  })
  const runtime = await startTestRuntime({
    contexts: [identity, registry, vcs, spot, router, placement, policy, orchestrator, harness],
    database: db.database,
    env: {
      WEBHOOK_KEY: randomBytes(32).toString('base64url'),
      // The router offers rxt-spot alone: every deploy is placed on the cluster.
      PROVIDER_FILES: spotProviderFile,
      SPOT_KUBECONFIG: spotKubeconfigPath,
      SPOT_ROLLOUT_TIMEOUT_MS: String(timeoutMs),
    },
  })
  const dir = await mkdtemp(join(tmpdir(), 'rxt-spot-deploy-bench-'))
  try {
    const { authorization } = await signUp(runtime, `bench-${run}@example.com`)
    const call = async (method: string, url: string, payload?: object) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization },
        ...(payload === undefined ? {} : { payload }),
      })
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
      return res.json() as Payload
    }
    await until(
      async () =>
        ((await call('GET', '/v1/providers')).items as { health: { healthy: boolean } }[]).some(
          (p) => p.health.healthy,
        ),
      60_000,
      'rxt-spot to report healthy',
    )

    /** A project of its own repository, deploying main, with a staging environment and its manifest. */
    const project = async (name: string) => {
      const repository = `acme/${name}`
      const created = await call('POST', '/v1/projects', {
        slug: name,
        name,
        repository,
        deployBranches: ['main'],
        ci: { workflow: 'build.yml', image: `ghcr.io/acme/${name}` },
      })
      const env = await call('POST', `/v1/projects/${created.id}/environments`, {
        name: 'staging',
        type: 'staging',
      })
      await call('POST', `/v1/projects/${created.id}/manifests`, {
        yaml: [
          'apiVersion: rxt-deploy/v1',
          'kind: Application',
          'metadata: {name: shop}',
          'spec:',
          '  image: "ghcr.io/acme/shop:1"',
          '  replicas: 1',
          '  resources: {cpu: "100m", memory: 128Mi}',
          '  ports: [{name: http, port: 8080, protocol: http}]',
          `  network: {visibility: public, hostnames: [${name}.acme.example], tls: required}`,
          '',
        ].join('\n'),
        environment: 'staging',
      })
      const hook = new URL(created.webhook.url as string).pathname
      const secret = created.webhook.secret as string
      /** A signed delivery to the project's webhook, as GitHub sends it. */
      const deliver = async (event: string, payload: Payload) => {
        const body = JSON.stringify({ ...payload, test_nonce: randomUUID() })
        return runtime.app.inject({
          method: 'POST',
          url: hook,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'GitHub-Hookshot/bench',
            'x-github-event': event,
            'x-github-delivery': randomUUID(),
            'x-github-hook-id': '42',
            'x-hub-signature-256': await sign(secret, body),
          },
          payload: body,
        })
      }
      // vcs learns of the project over the bus; until then no secret of it signs a delivery.
      await until(
        async () =>
          (await deliver('ping', { ...ping, repository: { ...ping.repository, full_name: repository } }))
            .statusCode === 202,
        60_000,
        `vcs to know ${name}`,
      )
      return { envId: env.id as string, repository, deliver }
    }

    /** Deploys a project from its workflow run: the times to its ready event and to its rollout. */
    const deploy = async (p: Awaited<ReturnType<typeof project>>) => {
      const start = performance.now()
      const deliveredAt = Date.now()
      const delivered = await p.deliver(
        'workflow_run',
        workflowRun(p.repository, randomBytes(20).toString('hex')),
      )
      if (delivered.statusCode !== 202)
        throw new Error(`the delivery was answered ${delivered.statusCode}: ${delivered.body}`)
      await until(() => outcomes.has(p.envId), timeoutMs, `deployment of ${p.envId}`)
      const outcome = outcomes.get(p.envId) as Outcome
      if (!outcome.ok) throw new Error(outcome.reason)
      const plan = plans.get(p.envId) as DeployPlan
      await rolloutOf(admin, namespaceOf(plan.provision), plan.deploy.app)
      return {
        ready: outcome.at - start,
        rolledOut: performance.now() - start,
        deliveredAt,
        deploymentId: outcome.deploymentId,
      }
    }

    // One deploy first: the code paths warm, and its plan is the baseline's.
    const warm = await project(`shop-${run}-w`)
    await deploy(warm)
    const template = plans.get(warm.envId) as DeployPlan

    // The baseline: the objects the adapter renders of that plan for each environment, kubectl-applied.
    const kubectl = join(buildDir, 'bin', 'kubectl')
    const sh = (args: string[]) =>
      new Promise<void>((resolve, reject) =>
        execFile(
          kubectl,
          ['--kubeconfig', kubeconfigPath, '--cache-dir', join(dir, 'cache'), ...args],
          { maxBuffer: 64 << 20 },
          (error, _out, err) =>
            error
              ? reject(new Error(`kubectl ${args[0]}: ${err.trim().split('\n').slice(-2).join(' ')}`))
              : resolve(),
        ),
      )
    const kubectlFailures: string[] = []
    const kubectlStart = performance.now()
    const kubectlTimes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const plan = retarget(template, `env-k${i}-${run}`, `shop-${run}-k${i}.acme.example`)
        const rendered = renderSpotPlan(plan)
        const ns = namespaceOf(plan.provision)
        namespaces.add(ns)
        const file = join(dir, `${i}.json`)
        await writeFile(
          file,
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'List',
            items: [...rendered.environment, ...rendered.workload, ...rendered.network],
          }),
        )
        const start = performance.now()
        try {
          await sh(['apply', '--server-side', '--field-manager=bench', '-f', file])
          await sh([
            'rollout',
            'status',
            `deployment/${plan.deploy.app}`,
            '-n',
            ns,
            `--timeout=${timeoutMs / 1000}s`,
          ])
          return performance.now() - start
        } catch (error) {
          kubectlFailures.push((error as Error).message)
          return undefined
        }
      }),
    )
    const kubectlWall = performance.now() - kubectlStart

    // The saga: every project's workflow run delivered at once.
    const projects: Awaited<ReturnType<typeof project>>[] = []
    for (let i = 0; i < count; i += 10)
      projects.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(10, count - i) }, (_, j) => project(`shop-${run}-${i + j}`)),
        )),
      )
    const sagaFailures: string[] = []
    const sagaStart = performance.now()
    const sagaTimes = await Promise.all(
      projects.map((p) =>
        deploy(p).catch((error: Error) => {
          sagaFailures.push(error.message)
          return undefined
        }),
      ),
    )
    const sagaWall = performance.now() - sagaStart

    const done = sagaTimes.filter((t) => t !== undefined)
    const ready = done.map((t) => t.ready)
    const rolled = done.map((t) => t.rolledOut)
    const k = kubectlTimes.filter((t): t is number => t !== undefined)
    const share = (failures: number) =>
      `${failures}/${count} failed (${((100 * failures) / count).toFixed(1)}%)`
    const [warmDeployment] = (await call('GET', `/v1/environments/${warm.envId}/deployments`)).items
    const steps = ((await call('GET', `/v1/deployments/${warmDeployment.id}`)).steps as { name: string }[])
      .map((s) => s.name)
      .join(' → ')
    console.log(
      `${count} deploys at once through the saga (${steps}) onto rxt-spot, contexts on ${db.name}; each a namespace with quota, limits, RBAC, 4 network policies, a Deployment (1 replica), 2 Services, an Ingress and a Certificate`,
    )
    console.log(
      `saga, from the signed workflow_run delivery: ${share(sagaFailures.length)}; to evt.deploy.ready ${p50p95(ready)}; to ready and rolled out ${p50p95(rolled)}; all in ${seconds(sagaWall)}`,
    )
    console.log(
      `kubectl apply --server-side + rollout status of the same objects: ${share(kubectlFailures.length)}; ${p50p95(k)}; all in ${seconds(kubectlWall)}`,
    )
    console.log(
      `ratio of p95, saga (ready and rolled out) / kubectl: ${(percentile(rolled, 95) / percentile(k, 95)).toFixed(2)}; p50: ${(percentile(rolled, 50) / percentile(k, 50)).toFixed(2)} (above 1: the saga is slower)`,
    )
    console.log(
      `ratio of p95, saga (evt.deploy.ready) / kubectl: ${(percentile(ready, 95) / percentile(k, 95)).toFixed(2)}; p50: ${(percentile(ready, 50) / percentile(k, 50)).toFixed(2)}`,
    )
    // Where the saga's time goes: from the delivery to its first step, and each step, by the saga's history.
    const views = await Promise.all(
      done.map(async (t) => ({
        deliveredAt: t.deliveredAt,
        steps: (await call('GET', `/v1/deployments/${t.deploymentId}`)).steps as {
          name: string
          startedAt: string | null
          endedAt: string | null
        }[],
      })),
    )
    const spans = new Map<string, number[]>()
    const span = (name: string, ms: number) => spans.set(name, [...(spans.get(name) ?? []), ms])
    for (const view of views) {
      const first = view.steps[0]?.startedAt
      if (first) span('delivery → first step', Date.parse(first) - view.deliveredAt)
      for (const step of view.steps)
        if (step.startedAt && step.endedAt)
          span(step.name, Date.parse(step.endedAt) - Date.parse(step.startedAt))
    }
    console.log(
      `saga, where the time goes: ${[...spans].map(([name, ms]) => `${name} ${p50p95(ms)}`).join('; ')}`,
    )
    if (sagaFailures.length > 0) console.log(`saga failures, the first: ${sagaFailures[0]}`)
    if (kubectlFailures.length > 0) console.log(`kubectl failures, the first: ${kubectlFailures[0]}`)
  } finally {
    await runtime.stop()
    await Promise.all(
      [...namespaces].map((name) =>
        admin.remove({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => false),
      ),
    )
    await rm(dir, { recursive: true, force: true })
    await db.dispose()
  }
}

if (!binaries.every((b) => existsSync(join(buildDir, 'bin', b)))) {
  console.log('SKIPPED spot-deploy: the Kubernetes peers are not built (npm run peers -- build; needs Go)')
} else {
  const startedHere = !isUp()
  if (startedHere) await up()
  try {
    await bench()
  } finally {
    if (startedHere) await down()
  }
}
