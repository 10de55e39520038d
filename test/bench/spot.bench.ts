// RXT Spot against the local Kubernetes control plane (tools/peers): BENCH_ENVS environments (100
// unless given) provisioned and deployed at once by the adapter — server-side apply, dry run first,
// answers kept by key, readiness by watching each rollout — side by side, in the same run, with
// `kubectl apply --server-side` of the same generated objects followed by `kubectl rollout status`
// (kubectl built from the same k8s.io/kubernetes version). Printed: all Ready or not, p50/p95 time to
// Ready, API requests per environment (kubectl's counted from its -v=6 log, discovery included), and
// the ratios.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSpotPlatform, environmentObjects, workloadObjects } from '@rxt/adapter-spot'
import { createLogger, loadMigrations, openDatabase, systemClock } from '@rxt/kit'
import {
  conformanceRequests,
  type DeployRequest,
  ownerLabels,
  type ProvisionRequest,
} from '@rxt/platform-sdk'
import { prepareCluster, testSettings } from '../../adapters/spot/src/test-cluster.ts'
import { binaries, buildDir } from '../../tools/peers/build.ts'
import { down, isUp, kubeconfigPath, up } from '../../tools/peers/cluster.ts'

const count = Number(process.env.BENCH_ENVS ?? 100)
const timeoutMs = 600_000
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** One environment's requests: a small app, one replica, a port and a health check. */
function requestsFor(run: string, i: number): { provision: ProvisionRequest; deploy: DeployRequest } {
  const r = conformanceRequests(`${run}-${i}`)
  return {
    provision: { ...r.provision, tenantId: 'tnt-bench', quota: { cpu: 1, memoryMiB: 1024, storageGiB: 0 } },
    deploy: { ...r.deploy, replicas: 1, resources: { cpu: 0.1, memoryMiB: 128 } },
  }
}

async function bench(): Promise<void> {
  const { admin, adapter } = await prepareCluster(kubeconfigPath)
  const database = await openDatabase({ kind: 'pglite' }, createLogger({ level: 'silent' }))
  const db = await database.openContext(
    'spot',
    await loadMigrations(new URL('../../adapters/spot/migrations/', import.meta.url)),
  )
  const spot = createSpotPlatform(
    { db, clock: systemClock },
    { kube: adapter, cluster: testSettings, destroyTimeoutMs: timeoutMs },
  )
  const run = randomBytes(3).toString('hex')
  const namespaces: string[] = []
  const failures: string[] = []
  const failedWith = (message: string) => {
    failures.push(message)
    return undefined
  }
  try {
    // kubectl: the same objects, applied server-side, then its rollout status.
    const dir = await mkdtemp(join(tmpdir(), 'rxt-spot-bench-'))
    const kubectl = join(buildDir, 'bin', 'kubectl')
    const kubectlRequests: number[] = []
    const sh = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          kubectl,
          ['--kubeconfig', kubeconfigPath, '--cache-dir', join(dir, 'cache'), '-v=6', ...args],
          { maxBuffer: 64 << 20 },
          (error, _out, err) => {
            kubectlRequests.push(
              (err.match(/"Response" verb="|^I.* (GET|PATCH|POST|PUT|DELETE) https:/gm) ?? []).length,
            )
            if (error) reject(new Error(`kubectl ${args.join(' ')}: ${err.split('\n').slice(-3).join(' ')}`))
            else resolve(err)
          },
        ),
      )
    const kubectlStart = performance.now()
    const kubectlTimes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const { provision, deploy } = requestsFor(`k${run}`, i)
        const objects = environmentObjects(provision, testSettings)
        const ns = objects[0]?.metadata.name as string
        namespaces.push(ns)
        const file = join(dir, `${i}.json`)
        await writeFile(
          file,
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'List',
            items: [
              ...objects,
              ...workloadObjects(ns, deploy, 1, 'bench', {
                autoscaled: false,
                owner: ownerLabels(provision),
              }),
            ],
          }),
        )
        const start = performance.now()
        const applied = await sh(['apply', '--server-side', '--field-manager=bench', '-f', file]).catch(
          (error: Error) => failedWith(error.message),
        )
        if (applied === undefined) return undefined
        const rolled = await sh([
          'rollout',
          'status',
          `deployment/${deploy.app}`,
          '-n',
          ns,
          `--timeout=${timeoutMs / 1000}s`,
        ]).catch((error: Error) => failedWith(error.message))
        return rolled === undefined ? undefined : performance.now() - start
      }),
    )
    const kubectlWall = performance.now() - kubectlStart

    // The adapter: provision, deploy, watch the rollout — all environments at once, after kubectl's
    // round (so the adapter's round, not kubectl's, runs beside the other round's environments).
    const before = adapter.requests()
    const adapterStart = performance.now()
    const adapterTimes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const { provision, deploy } = requestsFor(`a${run}`, i)
        const start = performance.now()
        const env = await spot.provisionEnvironment(provision)
        if (!env.ok) return failedWith(`provision: ${env.failure.message}`)
        namespaces.push(env.value.platformId)
        const deployed = await spot.deployApplication(deploy)
        if (!deployed.ok) return failedWith(`deploy: ${deployed.failure.message}`)
        const ready = await spot.rollout(deploy.envId, timeoutMs)
        if (!ready.ok) return failedWith(`rollout: ${ready.failure.message}`)
        return performance.now() - start
      }),
    )
    const adapterWall = performance.now() - adapterStart
    const adapterRequests = (adapter.requests() - before) / count

    await rm(dir, { recursive: true, force: true })

    const ready = adapterTimes.filter((t): t is number => t !== undefined)
    const k = kubectlTimes.filter((t): t is number => t !== undefined)
    const kubectlPerEnv = kubectlRequests.reduce((a, b) => a + b, 0) / count
    console.log(
      `${count} environments at once, each a namespace with quota, limits, RBAC, 4 network policies, a Deployment (1 replica) and a Service`,
    )
    console.log(
      `adapter: ${ready.length}/${count} Ready; p50 ${seconds(percentile(ready, 50))}, p95 ${seconds(percentile(ready, 95))} to Ready; all in ${seconds(adapterWall)}; ${adapterRequests.toFixed(1)} API requests per environment`,
    )
    console.log(
      `kubectl apply --server-side + rollout status: ${k.length}/${count} Ready; p50 ${seconds(percentile(k, 50))}, p95 ${seconds(percentile(k, 95))}; all in ${seconds(kubectlWall)}; ${kubectlPerEnv.toFixed(1)} API requests per environment`,
    )
    console.log(
      `ratio of p95 time to Ready, kubectl / adapter: ${(percentile(k, 95) / percentile(ready, 95)).toFixed(2)} (above 1: the adapter is faster)`,
    )
    console.log(
      `ratio of API requests per environment, adapter / kubectl: ${(adapterRequests / kubectlPerEnv).toFixed(2)}`,
    )
    if (failures.length > 0) console.log(`${failures.length} failed; the first: ${failures[0]}`)
  } finally {
    spot.close()
    await Promise.all(
      namespaces.map((name) =>
        admin.remove({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => false),
      ),
    )
    await database.close()
  }
}

if (!binaries.every((b) => existsSync(join(buildDir, 'bin', b)))) {
  console.log('SKIPPED spot: the Kubernetes peers are not built (npm run peers -- build; needs Go)')
} else {
  const startedHere = !isUp()
  if (startedHere) await up()
  try {
    await bench()
  } finally {
    if (startedHere) await down()
  }
}
