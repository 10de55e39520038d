import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { sim } from '@rxt/adapter-sim'
import { spot, spotProviderFile } from '@rxt/adapter-spot'
import type { DeployPlan, Envelope } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { placement } from '@rxt/placement'
import { registry } from '@rxt/registry'
import { router } from '@rxt/router'
import yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Kube } from '../../adapters/spot/src/kube.ts'
import { prepareCluster, spotKubeconfigPath } from '../../adapters/spot/src/test-cluster.ts'
import { api } from '../../tools/peers/cluster.ts'

/**
 * One case table for every implementation of a deploy: each manifest, with the environment's
 * overrides, on each provider, is previewed (POST /v1/deploy/translate, the adapter's renderer through
 * the SDK) and deployed (cmd.router.plan → the plan's steps sent to the adapter, as the deploy saga sends them). What the adapter
 * applied must be what the preview showed: on the simulations, the objects they recorded; on the
 * local Kubernetes control plane, the objects the API server holds. Every case also checks values
 * taken from the table itself (names, labels, counts), never from the code under test.
 */

type Obj = Record<string, unknown> & { kind: string }

interface Case {
  readonly name: string
  /** The spec of deploy.yaml for the app `shop` (YAML, unindented). */
  readonly spec: string
  /** Overrides stored on the environment in the registry. */
  readonly stored?: Record<string, unknown>
  /** What the table expects, whatever the renderer: the replicas, and every object as `Kind/name`. */
  readonly replicas: number
  /** Whether its pods run on the local cluster (a claim stays Pending there: it has no provisioner). */
  readonly runs?: false
  readonly k8s: readonly string[]
  readonly vm: readonly string[]
}

// Every object by `Kind/name`; `$` stands for the environment's platform name.
const k8sEnvironment = [
  'Namespace/$',
  'ResourceQuota/rxt-quota',
  'LimitRange/rxt-limits',
  'ServiceAccount/rxt-env',
  'RoleBinding/rxt-env',
  'NetworkPolicy/rxt-default-deny',
  'NetworkPolicy/rxt-allow-same-namespace',
  'NetworkPolicy/rxt-allow-dns',
  'NetworkPolicy/rxt-allow-ingress-controller',
]
const vmEnvironment = (loadBalanced: boolean) => [
  'VmFolder/$',
  'NsxSegment/$-segment',
  'NsxDistributedFirewallRule/$-default-deny',
  ...(loadBalanced ? ['NsxDistributedFirewallRule/$-allow-load-balancer'] : []),
  'NsxDistributedFirewallRule/$-allow-segment',
  'NsxDistributedFirewallRule/$-allow-dns',
  'NsxDistributedFirewallRule/$-allow-image-pull',
]
const vms = (n: number) => Array.from({ length: n }, (_, i) => `VirtualMachine/$-${i}`)

const image = 'ghcr.io/acme/shop:1.4.2'
const cases: readonly Case[] = [
  {
    name: 'public http with TLS, production overrides in the manifest',
    spec: `image: ${image}
replicas: 1
resources: { cpu: 250m, memory: 128Mi }
ports: [{ name: http, port: 8080, protocol: http }]
healthChecks: { readiness: { path: /healthz, port: http } }
env: { LOG_LEVEL: info }
network: { visibility: public, tls: required }
environments:
  production: { replicas: 2, env: { LOG_LEVEL: warn } }`,
    replicas: 2,
    k8s: [
      ...k8sEnvironment,
      'Deployment/shop',
      'Service/shop',
      'Service/shop-ingress',
      'Certificate/shop-tls',
      'Ingress/shop',
    ],
    vm: [...vmEnvironment(true), ...vms(2), 'NsxLoadBalancer/$-lb'],
  },
  {
    name: 'stored overrides win over the manifest: 3 replicas',
    spec: `image: ${image}
replicas: 1
resources: { cpu: 250m, memory: 128Mi }
ports: [{ name: api, port: 9090, protocol: grpc }]
network: { visibility: public, tls: off }
environments:
  production: { replicas: 2 }`,
    stored: { replicas: 3, env: { REGION: 'east' } },
    replicas: 3,
    k8s: [...k8sEnvironment, 'Deployment/shop', 'Service/shop', 'Service/shop-ingress', 'Ingress/shop'],
    vm: [...vmEnvironment(true), ...vms(3), 'NsxLoadBalancer/$-lb'],
  },
  {
    name: 'public tcp through a load balancer',
    spec: `image: ${image}
resources: { cpu: 250m, memory: 128Mi }
ports: [{ name: pg, port: 5432, protocol: tcp }]
network: { visibility: public }`,
    replicas: 1,
    k8s: [
      ...k8sEnvironment,
      'Deployment/shop',
      'Service/shop',
      'Service/shop-public',
      'NetworkPolicy/shop-public',
    ],
    vm: [...vmEnvironment(true), ...vms(1), 'NsxLoadBalancer/$-lb'],
  },
  {
    name: 'a private worker with no ports',
    spec: `image: ${image}
replicas: 2
resources: { cpu: 250m, memory: 128Mi }`,
    replicas: 2,
    k8s: [...k8sEnvironment, 'Deployment/shop'],
    vm: [...vmEnvironment(false), ...vms(2)],
  },
  {
    name: 'stateful with a volume',
    spec: `image: ${image}
stateful: true
replicas: 1
resources: { cpu: 250m, memory: 128Mi }
ports: [{ name: db, port: 5432, protocol: tcp }]
volumes: [{ name: data, mountPath: /var/lib/data, size: 1Gi }]`,
    replicas: 1,
    runs: false,
    k8s: [...k8sEnvironment, 'StatefulSet/shop', 'Service/shop'],
    vm: [...vmEnvironment(true), ...vms(1), 'NsxLoadBalancer/$-lb'],
  },
]

/** The providers each case runs on: the simulations always, RXT Spot where the local cluster runs. */
const kubeconfigPath = inject('kubeconfigPath')
const kubeSkip = inject('kubeSkipReason')
const providers = [
  { name: 'sim-container', family: 'k8s' as const },
  { name: 'sim-vm', family: 'vm' as const },
  ...(kubeSkip === '' ? [{ name: 'rxt-spot', family: 'k8s' as const }] : []),
]
if (kubeSkip !== '') console.log(`SKIPPED the rxt-spot cases of the plan table: ${kubeSkip}`)

/** An environment's platform name, computed here from its definition: `<app>-<env>-<8 hex>`. */
const platformNameOf = (tenantId: string, envId: string) =>
  `shop-production-${createHash('sha256').update(`${tenantId}/${envId}`).digest('hex').slice(0, 8)}`

const nameOf = (o: Obj) =>
  String((o.metadata as { name?: string } | undefined)?.name ?? (o as { name?: unknown }).name)
const labelsOf = (o: Obj) =>
  ((o.metadata as { labels?: Record<string, string> } | undefined)?.labels ??
    (o as { labels?: Record<string, string> }).labels ??
    {}) as Record<string, string>

/** Kubernetes quantities as numbers (`1000m` and `1` are one CPU), anything else as itself. */
const quantity = (v: string): number | undefined => {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi)?$/.exec(v)
  if (m === null) return undefined
  const n = Number(m[1])
  return { m: n / 1000, Ki: n * 1024, Mi: n * 1024 ** 2, Gi: n * 1024 ** 3 }[m[2] ?? ''] ?? n
}

/** Whether everything `wanted` says is in `live` (the API server adds defaults and status). */
function within(wanted: unknown, live: unknown, path: string, problems: string[]): void {
  // The API server leaves empty lists and maps out of what it answers.
  const empty =
    (Array.isArray(wanted) && wanted.length === 0) ||
    (typeof wanted === 'object' && wanted !== null && Object.keys(wanted).length === 0)
  if (empty && live === undefined) return
  // It leaves out zero values too (initialDelaySeconds: 0).
  if ((wanted === 0 || wanted === false) && live === undefined) return
  if (typeof wanted === 'string' && typeof live === 'string') {
    const [a, b] = [quantity(wanted), quantity(live)]
    if (wanted !== live && (a === undefined || a !== b))
      problems.push(`${path}: ${JSON.stringify(wanted)} ≠ ${JSON.stringify(live)}`)
    return
  }
  if (Array.isArray(wanted)) {
    if (!Array.isArray(live) || live.length !== wanted.length) {
      problems.push(`${path}: ${JSON.stringify(wanted)} ≠ ${JSON.stringify(live)}`)
      return
    }
    for (const [i, w] of wanted.entries()) within(w, live[i], `${path}/${i}`, problems)
    return
  }
  if (typeof wanted === 'object' && wanted !== null) {
    if (typeof live !== 'object' || live === null) {
      problems.push(`${path}: missing`)
      return
    }
    for (const [k, v] of Object.entries(wanted))
      within(v, (live as Record<string, unknown>)[k], `${path}/${k}`, problems)
    return
  }
  if (wanted !== live) problems.push(`${path}: ${JSON.stringify(wanted)} ≠ ${JSON.stringify(live)}`)
}

/** An object as the API server stores it, in its own JSON (no client library's model in between). */
async function rawRead(apiVersion: string, kind: string, name: string, namespace?: string) {
  const config = yaml.load(readFileSync(kubeconfigPath, 'utf8')) as { users: { user: { token: string } }[] }
  const token = config.users[0]?.user.token as string
  const lower = kind.toLowerCase()
  const plural = lower.endsWith('y')
    ? `${lower.slice(0, -1)}ies`
    : lower.endsWith('s')
      ? `${lower}es`
      : `${lower}s`
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
  const scope = namespace === undefined ? '' : `/namespaces/${namespace}`
  const res = await api(token, `${base}${scope}/${plural}/${name}`)
  if (res.status === 404) return undefined
  if (!res.ok) throw new Error(`GET ${kind} ${name}: ${res.status} ${res.text}`)
  return JSON.parse(res.text) as Obj
}

const target = dbTargets()[0] as ReturnType<typeof dbTargets>[number]

describe.skipIf(target.skipped !== undefined)('one case table for every renderer and adapter', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let operator: string
  let tenant: { authorization: string; orgId: string }
  let driver: ContextDeps<unknown>
  let admin: Kube | undefined
  const events: Envelope[] = []
  const run = randomBytes(3).toString('hex')
  const namespaces: string[] = []

  const call = async (method: string, url: string, authorization: string, payload?: object) => {
    const res = await runtime.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization },
      ...(payload === undefined ? {} : { payload }),
    })
    return { status: res.statusCode, body: res.json() }
  }
  const of = (deploymentId: string, type: string) =>
    events.filter(
      (e) => e.type === type && (e.data as { deploymentId?: string }).deploymentId === deploymentId,
    )

  beforeAll(async () => {
    handle = await target.create()
    if (kubeSkip === '') ({ admin } = await prepareCluster(kubeconfigPath))
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        {
          id: 'watch',
          types: [
            'evt.route.planned',
            'evt.route.failed',
            'evt.provisioned',
            'evt.provision.failed',
            'evt.network.ready',
            'evt.network.failed',
            'evt.rolled.out',
            'evt.rollout.failed',
            'evt.spot.ingress.configured',
            'evt.spot.pod.created',
          ],
          handle: async (m) => void events.push(m),
        },
      ],
    })
    const simFiles = (sim.extensions ?? [])
      .map((e) => e.value)
      .filter((v): v is string => typeof v === 'string')
    runtime = await startTestRuntime({
      contexts: [identity, registry, sim, ...(kubeSkip === '' ? [spot] : []), router, placement, harness],
      extensions: kubeSkip === '' ? [] : spot.extensions,
      database: handle.database,
      env: {
        WEBHOOK_KEY: randomBytes(32).toString('base64url'),
        PROVIDER_FILES: [...simFiles, ...(kubeSkip === '' ? [spotProviderFile] : [])].join(','),
        SIM_ROLLOUT_MS: '0',
        ...(kubeSkip === ''
          ? { SPOT_KUBECONFIG: spotKubeconfigPath, SPOT_ROLLOUT_TIMEOUT_MS: '150000' }
          : {}),
      },
    })
    operator = (await signUp(runtime, `operator-${run}@example.com`)).authorization
    tenant = await signUp(runtime, `tenant-${run}@example.com`)
    await until(
      async () =>
        (await call('GET', '/v1/providers', operator)).body.items.filter(
          (p: { health: { healthy: boolean } }) => p.health.healthy,
        ).length === providers.length,
      60_000,
      'every provider reports healthy',
    )
  }, 120_000)

  afterAll(async () => {
    for (const name of namespaces)
      await admin?.remove({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => false)
    await runtime?.stop()
    await handle?.dispose()
  }, 60_000)

  /** Only this provider takes new work: the others are disabled by the operator. */
  const only = async (provider: string) => {
    for (const p of providers)
      await call('PATCH', `/v1/providers/${p.name}`, operator, { enabled: p.name === provider })
  }

  /** A project with a production environment holding the stored overrides, as the registry keeps it. */
  const environment = async (slug: string, stored: Record<string, unknown> | undefined) => {
    const project = await call('POST', '/v1/projects', tenant.authorization, { slug, name: slug })
    expect(project.status).toBe(201)
    const env = await call('POST', `/v1/projects/${project.body.id}/environments`, tenant.authorization, {
      name: 'production',
      type: 'production',
      ...(stored === undefined ? {} : { overrides: stored }),
    })
    expect(env.status).toBe(201)
    return { projectId: project.body.id as string, envId: env.body.id as string }
  }

  /** What an adapter applied: the objects a simulation recorded, or what the cluster now holds. */
  const applied = async (provider: string, plan: DeployPlan, preview: Obj[]) => {
    if (provider !== 'rxt-spot') {
      const res = await call('GET', `/v1/admin/sim/${provider}/environments/${plan.envId}/objects`, operator)
      expect(res.status).toBe(200)
      const steps = res.body.steps as Record<string, Obj[]>
      return {
        objects: [...(steps.environment ?? []), ...(steps.workload ?? []), ...(steps.network ?? [])],
        problems: [] as string[],
      }
    }
    const problems: string[] = []
    const objects: Obj[] = []
    for (const wanted of preview) {
      const meta = wanted.metadata as { name: string; namespace?: string }
      const live = await rawRead(String(wanted.apiVersion), wanted.kind, meta.name, meta.namespace)
      if (live === undefined) {
        problems.push(`${wanted.kind}/${meta.name}: not on the cluster`)
        continue
      }
      within(wanted, live, `${wanted.kind}/${meta.name}`, problems)
      objects.push(wanted)
    }
    return { objects, problems }
  }

  it("recommends and previews a project's production environment with the replica count stored on it", async () => {
    await only('sim-container')
    const { envId } = await environment(`stored-${run}`, { replicas: 3 })
    const yaml = `apiVersion: rxt-deploy/v1
kind: Application
metadata:
  name: shop
spec:
  image: ${image}
  replicas: 1
  resources: { cpu: 500m, memory: 512Mi }
  environments:
    production: { replicas: 2 }
`
    // sim-container's price list (adapters/sim/providers/sim-container.yaml): $0.02 a vCPU-hour and
    // $0.0025 a GiB-hour, 730 hours a month; half a vCPU and half a GiB a replica. It is spot
    // capacity: the simulation's price feed quotes it at 60% of that at its p90 ceiling.
    const perReplica = 730 * (0.5 * 0.02 * 0.6 + 0.5 * 0.0025 * 0.6)
    const recommend = (body: object) => call('POST', '/v1/placement/recommend', tenant.authorization, body)
    let selected = await recommend({ yaml, envId })
    await until(
      async () => {
        selected = await recommend({ yaml, envId })
        return selected.status === 200 && JSON.stringify(selected.body.candidates).includes('spot p90')
      },
      15_000,
      'placement knows the environment and the spot price feed',
    )
    expect(selected.body).toMatchObject({ provider: 'sim-container' })
    expect(selected.body.monthlyCost).toBeCloseTo(3 * perReplica, 2)
    // By its name alone, the environment has only the manifest's overrides: 2 replicas.
    const byName = await recommend({ yaml, environment: 'production' })
    expect(byName.body.monthlyCost).toBeCloseTo(2 * perReplica, 2)
    // The router previews on the provider named; it chooses none.
    const unnamed = await call('POST', '/v1/deploy/translate', tenant.authorization, { yaml, envId })
    expect(unnamed.status).toBe(422)
    const preview = await call('POST', '/v1/deploy/translate', tenant.authorization, {
      yaml,
      envId,
      provider: selected.body.provider,
    })
    expect(preview.status).toBe(200)
    expect(preview.body.plan.deploy.replicas).toBe(3)
    expect(preview.body.objects.find((o: Obj) => o.kind === 'Deployment')?.spec.replicas).toBe(3)
    expect(preview.body.summary).toContainEqual(
      expect.stringContaining('replicas (stored on the environment)'),
    )
    // Another organisation's environment is not found, and says nothing about it.
    const stranger = await signUp(runtime, `stranger-${run}@example.com`)
    const foreign = await call('POST', '/v1/deploy/translate', stranger.authorization, {
      yaml,
      envId,
      provider: 'sim-container',
    })
    expect(foreign.status).toBe(404)
  })

  for (const provider of providers) {
    for (const [i, c] of cases.entries()) {
      it(`${c.name}, on ${provider.name}: the adapter applies what the preview shows`, async () => {
        await only(provider.name)
        const { projectId, envId } = await environment(`case-${i}-${provider.name}-${run}`, c.stored)
        const yaml = `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata:\n  name: shop\nspec:\n${c.spec
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')}\n`
        // The router has heard of the environment and its stored overrides once the preview names them.
        let preview = await call('POST', '/v1/deploy/translate', tenant.authorization, {
          yaml,
          envId,
          provider: provider.name,
        })
        await until(
          async () => {
            preview = await call('POST', '/v1/deploy/translate', tenant.authorization, {
              yaml,
              envId,
              provider: provider.name,
            })
            return preview.status === 200
          },
          15_000,
          'the router knows the environment',
        )
        const plan = preview.body.plan as DeployPlan
        const objects = preview.body.objects as Obj[]

        // The table's own expectations: the replica count, the kinds, the name and the owner labels.
        expect(plan.deploy.replicas).toBe(c.replicas)
        const scope = platformNameOf(tenant.orgId, envId)
        expect(objects.map((o) => `${o.kind}/${nameOf(o)}`).sort()).toEqual(
          (provider.family === 'k8s' ? c.k8s : c.vm).map((n) => n.replace('$', scope)).sort(),
        )
        if (provider.family === 'k8s') {
          expect(objects.find((o) => o.kind === 'Namespace')?.metadata).toMatchObject({ name: scope })
          const workload = objects.find((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
          expect((workload?.spec as { replicas?: number }).replicas).toBe(c.replicas)
          namespaces.push(scope)
        } else {
          expect(objects.find((o) => o.kind === 'VmFolder')?.name).toBe(scope)
          expect(objects.filter((o) => o.kind === 'VirtualMachine')).toHaveLength(c.replicas)
        }
        for (const o of objects.filter((x) => x.kind !== 'Namespace' || provider.family === 'k8s'))
          expect(labelsOf(o), `${o.kind} ${nameOf(o)}`).toMatchObject({
            'app.kubernetes.io/managed-by': 'rxt-deploy',
            'deploy.rxt.dev/tenant': tenant.orgId.replace(/[^A-Za-z0-9._-]+/g, '-'),
            'deploy.rxt.dev/environment': envId.replace(/[^A-Za-z0-9._-]+/g, '-'),
          })

        // Deployed: the router makes the plan again (cmd.router.plan, the deploy saga's place step), and
        // the adapter applies its steps as the saga sends them: provision, rollout, network.
        const deploymentId = `dep-${i}-${provider.name}-${run}`
        const loaded = loadManifest(yaml)
        if (!loaded.ok) throw new Error('a case manifest is valid')
        const publish = (type: string, data: Record<string, unknown>) =>
          driver.db.transaction((tx) =>
            driver.bus.publish(tx, { type, tenantId: tenant.orgId, key: envId, data }),
          )
        await publish('cmd.router.plan', {
          deploymentId,
          tenantId: tenant.orgId,
          projectId,
          envId,
          environment: 'production',
          artifactRef: image,
          manifest: canonicalManifest(loaded.manifest),
          manifestDigest: manifestDigest(loaded.manifest),
          provider: provider.name,
        })
        await until(
          () =>
            of(deploymentId, 'evt.route.planned').length + of(deploymentId, 'evt.route.failed').length > 0,
          20_000,
          `${deploymentId} planned`,
        )
        expect(of(deploymentId, 'evt.route.failed').map((e) => e.data)).toEqual([])
        const sent = (of(deploymentId, 'evt.route.planned')[0]?.data as { plan: DeployPlan }).plan
        const family = provider.family === 'k8s' ? 'spot' : 'sddc'
        for (const [step, done, failed] of [
          ['provision.request', 'evt.provisioned', 'evt.provision.failed'],
          ['rollout', 'evt.rolled.out', 'evt.rollout.failed'],
          ['network.configure', 'evt.network.ready', 'evt.network.failed'],
        ] as const) {
          await publish(`cmd.${family}.${step}`, sent as unknown as Record<string, unknown>)
          await until(
            () => of(deploymentId, done).length + of(deploymentId, failed).length > 0,
            provider.name === 'rxt-spot' ? 120_000 : 20_000,
            `${deploymentId}: ${step} answered`,
          )
          expect(of(deploymentId, failed).map((e) => e.data)).toEqual([])
        }
        // The plan sent is the previewed one, but for the deployment it belongs to.
        const { deploymentId: _d, provision, deploy, network, ...rest } = sent
        const { deploymentId: _p, provision: p1, deploy: d1, network: n1, ...previewRest } = plan
        expect(rest).toEqual(previewRest)
        expect({ ...provision, key: '' }).toEqual({ ...p1, key: '' })
        expect({ ...deploy, key: '' }).toEqual({ ...d1, key: '' })
        expect(network === null ? null : { ...network, key: '' }).toEqual(
          n1 === null ? null : { ...n1, key: '' },
        )

        const { objects: done, problems } = await applied(provider.name, sent, objects)
        expect(problems).toEqual([])
        expect(done.map((o) => `${o.kind}/${nameOf(o)}`).sort()).toEqual(
          objects.map((o) => `${o.kind}/${nameOf(o)}`).sort(),
        )
        // A simulation records its renderer's objects of the plan it was sent: equal to the preview when
        // the plan reached it as previewed (checked above). On the cluster, what was applied is compared
        // with the preview object by object, which is what a renderer or adapter change can break.
        if (provider.name !== 'rxt-spot') expect(done).toEqual(objects)
        else {
          // Every namespace an event names exists on the cluster: the pods told once they run, the Ingress.
          await until(
            () => c.runs === false || of(deploymentId, 'evt.spot.pod.created').length >= c.replicas,
            120_000,
            `${c.replicas} pods of ${deploymentId} told`,
          )
          expect(of(deploymentId, 'evt.spot.ingress.configured').length > 0).toBe(
            c.k8s.includes('Ingress/shop'),
          )
          for (const e of [
            ...of(deploymentId, 'evt.spot.ingress.configured'),
            ...of(deploymentId, 'evt.spot.pod.created'),
          ]) {
            const ns = (e.data as { namespace: string }).namespace
            expect(await admin?.read({ apiVersion: 'v1', kind: 'Namespace', name: ns })).toBeDefined()
          }
        }
      }, 180_000)
    }
  }
})
