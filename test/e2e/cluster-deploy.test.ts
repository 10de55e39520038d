// The deploy saga on the local Kubernetes control plane (tools/peers): cmd.deploy.apply through every
// step of the orchestrator's saga (the router places it on rxt-spot, the spot adapter provisions and
// networks it on the cluster) to a ready deployment, checked on the cluster through the Kubernetes
// API: the Deployment runs the image the command named, its pods are Running on KWOK's nodes, the
// Ingress serves the URL's host with TLS from a cert-manager Certificate, default-deny network
// policies guard the namespace. Then a network step the cluster's adapter refuses after a successful
// provision (a host name another environment's Ingress already serves) undoes the provision: the
// namespace is gone or going, and the other environment is untouched.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { spot, spotProviderFile } from '@rxt/adapter-spot'
import type { Envelope } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { deploymentIdOf, orchestrator } from '@rxt/orchestrator'
import { placement } from '@rxt/placement'
import { Annotation, Label, labelValue, secretName } from '@rxt/platform-sdk'
import { policy } from '@rxt/policy'
import { router } from '@rxt/router'
import { secrets } from '@rxt/secrets'
import yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Kube } from '../../adapters/spot/src/kube.ts'
import type { KubeObject } from '../../adapters/spot/src/render/index.ts'
import { prepareCluster, spotKubeconfigPath } from '../../adapters/spot/src/test-cluster.ts'

const kubeconfigPath = inject('kubeconfigPath')
// A missing cluster is printed SKIPPED with its reason by the run's setup (and fails the run under CI=true).
const skipped = inject('kubeSkipReason') !== ''

/** The issuer the operator configured for rxt-spot (its provider.yaml), which every Certificate names. */
const clusterIssuer = (
  yaml.load(readFileSync(spotProviderFile, 'utf8')) as { spec: { settings: { clusterIssuer: string } } }
).spec.settings.clusterIssuer

/** shop, two replicas on port 8080, public on `host` with TLS required. */
const manifestOf = (host: string) => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 2
  platform: {preference: container}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [${host}], tls: required}
`)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

/** The same, its DATABASE_URL from the secrets context. */
const manifestWithSecretOf = (host: string) => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 1
  platform: {preference: container}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [${host}], tls: required}
  secrets: {DATABASE_URL: secret://db/url}
`)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

interface StepView {
  readonly name: string
  readonly status: string
}
interface DeploymentView {
  readonly status: string
  readonly urls: readonly string[]
  readonly steps: readonly StepView[]
  readonly failure: { step: string | null; code: string; reason: string } | null
  readonly compensationFailures: readonly unknown[]
  readonly [field: string]: unknown
}

type Pod = KubeObject & { status?: { phase?: string } }
type Ingress = KubeObject & {
  spec: {
    ingressClassName?: string
    tls?: { hosts: string[]; secretName: string }[]
    rules: { host: string; http: { paths: { backend: { service: { name: string } } }[] } }[]
  }
}
type Certificate = KubeObject & {
  spec: { secretName: string; dnsNames: string[]; issuerRef: { kind: string; name: string } }
}
type NetworkPolicy = KubeObject & {
  spec: {
    podSelector: { matchLabels?: object }
    policyTypes: string[]
    ingress?: unknown[]
    egress?: unknown[]
  }
}
type Deployment = KubeObject & {
  spec: { replicas: number; template: { spec: { containers: { image: string }[] } } }
}

describe.skipIf(skipped)('the deploy saga on the local Kubernetes cluster with RXT Spot', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let admin: Kube
  let driver: ContextDeps<unknown>
  let owner: { authorization: string; orgId: string }
  const events: Envelope[] = []
  const run = randomBytes(3).toString('hex')
  const envIds: string[] = []

  /** cmd.deploy.apply of shop at a commit to an environment of its own, public on `host`. */
  const apply = async (name: string, host: string, manifest = manifestOf(host)) => {
    const envId = `env-${name}-${run}`
    envIds.push(envId)
    const commitSha = randomBytes(20).toString('hex')
    const data = {
      envId,
      projectId: 'prj-shop',
      environment: 'production',
      commitSha,
      artifactRef: `ghcr.io/acme/shop:${commitSha.slice(0, 12)}`,
      overrides: '{}',
      ...manifest,
    }
    await driver.db.transaction((tx) =>
      driver.bus.publish(tx, { type: 'cmd.deploy.apply', tenantId: owner.orgId, key: envId, data }),
    )
    return { envId, image: data.artifactRef, id: deploymentIdOf({ ...data, tenantId: owner.orgId }) }
  }
  const get = (id: string) =>
    runtime.app.inject({ url: `/v1/deployments/${id}`, headers: { authorization: owner.authorization } })
  const settled = async (id: string): Promise<DeploymentView> => {
    let body = { status: 'unknown' } as DeploymentView
    await until(
      async () => {
        const res = await get(id)
        if (res.statusCode !== 200) return false
        body = res.json()
        return !['queued', 'running', 'compensating'].includes(body.status)
      },
      180_000,
      `deployment ${id} to settle`,
    )
    return body
  }
  const of = (type: string, id: string) =>
    events.filter((e) => e.type === type && (e.data as { deploymentId?: string }).deploymentId === id)
  /** The environment's namespace on the cluster, found by its label as the adapter finds it. */
  const namespaceOf = async (envId: string) =>
    (await admin.list('v1', 'Namespace', undefined, `${Label.environment}=${labelValue(envId)}`))[0] as
      | (KubeObject & { metadata: { deletionTimestamp?: string } })
      | undefined

  /** One deploy that went through (the first test's); the failure case reuses its host. */
  let ready: Promise<{ envId: string; image: string; id: string; host: string }> | undefined
  const readyDeployment = () => {
    ready ??= (async () => {
      const host = `shop-${run}.acme.example`
      const applied = await apply('ok', host)
      return { ...applied, host }
    })()
    return ready
  }

  beforeAll(async () => {
    handle = await (dbTargets()[0] as ReturnType<typeof dbTargets>[number]).create()
    ;({ admin } = await prepareCluster(kubeconfigPath))
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        {
          id: 'watch',
          types: [
            'evt.deploy.started',
            'evt.deploy.ready',
            'evt.deploy.failed',
            'evt.deploy.stopped',
            'evt.network.failed',
            'cmd.spot.destroy',
            'evt.destroyed',
            'evt.secret.accessed',
            'evt.secret.rotated',
            'evt.spot.credentials.issued',
          ],
          handle: async (m) => void events.push(m),
        },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, spot, router, placement, policy, secrets, orchestrator, harness],
      database: handle.database,
      env: {
        // The router offers rxt-spot alone: every deploy is placed on the cluster.
        PROVIDER_FILES: spotProviderFile,
        SPOT_KUBECONFIG: spotKubeconfigPath,
        SPOT_ROLLOUT_TIMEOUT_MS: '150000',
        SECRETS_KEY: randomBytes(32).toString('base64url'),
      },
    })
    owner = await signUp(runtime, `owner-${run}@example.com`)
    // The router offers a provider once its adapter's health report says the API server answers.
    await until(
      async () => {
        const items = (
          await runtime.app.inject({ url: '/v1/providers', headers: { authorization: owner.authorization } })
        ).json().items as { name: string; health: { healthy: boolean } }[]
        return items.length === 1 && items[0]?.name === 'rxt-spot' && items[0].health.healthy
      },
      60_000,
      'rxt-spot to report healthy',
    )
  }, 120_000)
  afterAll(async () => {
    for (const envId of envIds) {
      const ns = await namespaceOf(envId).catch(() => undefined)
      if (ns !== undefined)
        await admin.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns.metadata.name }).catch(() => false)
    }
    await runtime?.stop()
    await handle?.dispose()
  }, 60_000)

  it('deploys from cmd.deploy.apply to a ready deployment whose objects the cluster holds and runs', async () => {
    const { id, envId, image, host } = await readyDeployment()
    const deployment = await settled(id)
    expect(deployment).toMatchObject({
      id,
      envId,
      status: 'ready',
      platform: 'rxt-spot',
      provider: 'rxt-spot',
      urls: [`https://${host}`],
      failure: null,
    })
    // Every step of the saga succeeded, in order.
    expect(deployment.steps.filter((s) => s.status !== 'succeeded')).toEqual([])
    expect(deployment.steps.map((s) => s.name)).toEqual([
      'place',
      'admission',
      'plan',
      'secrets',
      'provision',
      'rollout',
      'network',
      'verify',
      'retire',
    ])
    await until(() => of('evt.deploy.ready', id).length === 1, 10_000, 'evt.deploy.ready')
    expect(of('evt.deploy.ready', id)[0]?.data).toMatchObject({ envId, urls: [`https://${host}`] })

    const namespace = await namespaceOf(envId)
    expect(namespace).toBeDefined()
    const ns = namespace?.metadata.name as string
    expect(namespace?.metadata.annotations?.[Annotation.tenantId]).toBe(owner.orgId)

    // The Deployment runs the image the command named (not the manifest's own), two replicas.
    const deployments = (await admin.list('apps/v1', 'Deployment', ns)) as Deployment[]
    expect(deployments.map((d) => d.metadata.name)).toEqual(['shop'])
    const shop = deployments[0] as Deployment
    expect(shop.spec.replicas).toBe(2)
    expect(shop.spec.template.spec.containers.map((c) => c.image)).toEqual([image])

    // Its pods run on KWOK's nodes.
    const selector = `${Label.name}=shop`
    let pods: Pod[] = []
    await until(
      async () => {
        pods = (await admin.list('v1', 'Pod', ns, selector)) as Pod[]
        return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running')
      },
      120_000,
      'two pods Running',
    )
    expect(pods.map((p) => p.status?.phase)).toEqual(['Running', 'Running'])

    // The Ingress serves the URL's host, with TLS from the Certificate cert-manager is asked for.
    const ingresses = (await admin.list('networking.k8s.io/v1', 'Ingress', ns)) as Ingress[]
    expect(ingresses).toHaveLength(1)
    const ingress = ingresses[0] as Ingress
    expect(ingress.spec.rules.map((r) => r.host)).toEqual([host])
    expect(ingress.spec.tls).toHaveLength(1)
    const tls = ingress.spec.tls?.[0] as { hosts: string[]; secretName: string }
    expect(tls.hosts).toEqual([host])
    const certificates = (await admin.list('cert-manager.io/v1', 'Certificate', ns)) as Certificate[]
    expect(certificates.map((c) => c.spec.secretName)).toEqual([tls.secretName])
    expect(certificates[0]?.spec.dnsNames).toEqual([host])
    expect(certificates[0]?.spec.issuerRef).toMatchObject({ kind: 'ClusterIssuer', name: clusterIssuer })
    // The route leads to the workload: its backend Service selects the Running pods.
    const backend = ingress.spec.rules[0]?.http.paths[0]?.backend.service.name as string
    const service = (await admin.read({ apiVersion: 'v1', kind: 'Service', name: backend, namespace: ns })) as
      | (KubeObject & { spec: { selector: Record<string, string>; ports: { port: number }[] } })
      | undefined
    expect(service?.spec.ports.map((p) => p.port)).toEqual([8080])
    const selected = await admin.list(
      'v1',
      'Pod',
      ns,
      Object.entries(service?.spec.selector ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    )
    expect(selected.map((p) => p.metadata.name).sort()).toEqual(pods.map((p) => p.metadata.name).sort())

    // Default deny: a policy selecting every pod, for both directions, letting nothing through.
    const policies = (await admin.list('networking.k8s.io/v1', 'NetworkPolicy', ns)) as NetworkPolicy[]
    const denying = policies.filter(
      (p) =>
        Object.keys(p.spec.podSelector.matchLabels ?? {}).length === 0 &&
        [...p.spec.policyTypes].sort().join(',') === 'Egress,Ingress' &&
        (p.spec.ingress ?? []).length === 0 &&
        (p.spec.egress ?? []).length === 0,
    )
    expect(denying).toHaveLength(1)
    // What it lets through is each stated by a policy of its own: the namespace, DNS, the ingress controller.
    expect(policies.length).toBeGreaterThanOrEqual(4)
  }, 240_000)

  it("delivers a deployment's secrets to the cluster by its grant, audited; a rotation redeploys with the new version", async () => {
    const call = (method: string, url: string, payload?: object) =>
      runtime.app.inject({
        method: method as 'POST',
        url,
        headers: { authorization: owner.authorization },
        ...(payload === undefined ? {} : { payload }),
      })
    const value = `postgres://shop:${randomBytes(12).toString('hex')}@db:5432/shop`
    const created = await call('POST', '/v1/secrets', {
      name: 'db/url',
      projectId: 'prj-shop',
      value,
      redeployOnRotation: true,
    })
    expect(created.statusCode, created.body).toBe(201)
    expect(created.body).not.toContain(value)
    const secretId = created.json().id as string
    const host = `secret-${run}.acme.example`
    const envId = `env-secret-${run}`
    // The orchestrator knows the environment (as the registry tells it), so a rotation can redeploy it.
    await driver.db.transaction((tx) =>
      driver.bus.publish(tx, {
        type: 'evt.project.updated',
        tenantId: owner.orgId,
        data: {
          projectId: 'prj-shop',
          changed: ['environments'],
          envIds: [envId],
          before: { environments: [null] },
          after: {
            environments: [
              {
                id: envId,
                name: 'production',
                type: 'production',
                promotionOrder: 1,
                overridesDigest: `sha256:${'0'.repeat(64)}`,
                overrides: '{}',
              },
            ],
          },
          updatedBy: 'user:usr_ada',
        },
      }),
    )
    const { id } = await apply('secret', host, manifestWithSecretOf(host))
    const deployment = await settled(id)
    expect(deployment.status, JSON.stringify(deployment.failure)).toBe('ready')
    expect(deployment.steps.map((s) => `${s.name}:${s.status}`)).toContain('secrets:succeeded')

    const ns = (await namespaceOf(envId))?.metadata.name as string
    const secretOnCluster = async () =>
      (await admin.read({
        apiVersion: 'v1',
        kind: 'Secret',
        name: secretName('secret://db/url'),
        namespace: ns,
      })) as (KubeObject & { data: { value: string } }) | undefined
    const first = await secretOnCluster()
    expect(Buffer.from(first?.data.value ?? '', 'base64').toString('utf8')).toBe(value)
    expect(first?.metadata.annotations?.['rxt-deploy/secret-version']).toBe('1')
    const workload = (await admin.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'shop',
      namespace: ns,
    })) as Deployment & {
      spec: { template: { spec: { containers: { env?: { name: string; valueFrom?: unknown }[] }[] } } }
    }
    expect(workload.spec.template.spec.containers[0]?.env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: secretName('secret://db/url'), key: 'value' } },
    })
    // The read was the adapter's, for this deployment, and audited as such.
    await until(() => of('evt.secret.accessed', id).length > 0, 10_000, 'evt.secret.accessed')
    expect(of('evt.secret.accessed', id)[0]?.data).toMatchObject({
      secretId,
      ref: 'secret://db/url',
      version: 1,
      actor: 'service:spot',
      deploymentId: id,
    })

    // Rotation: a new version, and the environment redeployed with it.
    const rotatedValue = `postgres://shop:${randomBytes(12).toString('hex')}@db:5432/shop`
    const rotated = await call('POST', `/v1/secrets/${secretId}/rotate`, { value: rotatedValue })
    expect(rotated.statusCode, rotated.body).toBe(200)
    expect(rotated.body).not.toContain(rotatedValue)
    await until(
      () =>
        events.some((e) => e.type === 'evt.secret.rotated' && (e.data as { version: number }).version === 2),
      10_000,
      'evt.secret.rotated',
    )
    let redeployId = ''
    await until(
      async () => {
        const list = (
          await runtime.app.inject({
            url: `/v1/environments/${envId}/deployments`,
            headers: { authorization: owner.authorization },
          })
        ).json().items as { id: string; trigger: string }[]
        redeployId = list.find((d) => d.trigger === 'rotation')?.id ?? ''
        return redeployId !== ''
      },
      30_000,
      'the redeploy on rotation',
    )
    expect((await settled(redeployId)).status).toBe('ready')
    const second = await secretOnCluster()
    expect(Buffer.from(second?.data.value ?? '', 'base64').toString('utf8')).toBe(rotatedValue)
    expect(second?.metadata.annotations?.['rxt-deploy/secret-version']).toBe('2')
    expect(of('evt.secret.accessed', redeployId)[0]?.data).toMatchObject({
      version: 2,
      actor: 'service:spot',
    })
    // A kubeconfig for the environment through the secrets API: issued by the broker, for the person.
    const issued = await call('POST', `/v1/secrets/environments/${envId}/kubeconfig`)
    expect(issued.statusCode, issued.body).toBe(200)
    expect(issued.headers['cache-control']).toBe('no-store')
    expect(issued.json()).toMatchObject({ envId, namespace: ns })
    await until(() => events.some((e) => e.type === 'evt.spot.credentials.issued'), 10_000, 'the issue')
    expect(events.find((e) => e.type === 'evt.spot.credentials.issued')?.data).toMatchObject({
      envId,
      issuedTo: expect.stringMatching(/^user:/),
    })
    // Another organisation's environment is absent through it, as through the broker.
    const stranger = await signUp(runtime, `stranger-${run}@example.com`)
    const foreign = await runtime.app.inject({
      method: 'POST',
      url: `/v1/secrets/environments/${envId}/kubeconfig`,
      headers: { authorization: stranger.authorization },
    })
    expect(foreign.statusCode).toBe(404)
    // No event the journey saw carries a value.
    for (const e of events) {
      expect(JSON.stringify(e)).not.toContain(value)
      expect(JSON.stringify(e)).not.toContain(rotatedValue)
    }
  }, 400_000)

  it('undoes the provision when the network step is refused on the cluster: a host another environment serves', async () => {
    const holder = await readyDeployment()
    expect((await settled(holder.id)).status).toBe('ready')
    const { id, envId } = await apply('clash', holder.host)
    // The provision went through first: the namespace was made.
    await until(async () => (await namespaceOf(envId)) !== undefined, 60_000, 'the namespace made')
    const deployment = await settled(id)
    expect(deployment).toMatchObject({
      status: 'failed',
      failure: { step: 'network', code: 'network-refused' },
      compensationFailures: [],
      urls: [],
    })
    expect(deployment.failure?.reason).toContain(`${holder.host} is served by another environment`)
    const step = (name: string) => deployment.steps.find((s) => s.name === name)?.status
    expect([step('provision'), step('rollout'), step('network')]).toEqual([
      'compensated',
      'compensated',
      'failed',
    ])
    // Refused, not retried: one network answer, and the environment destroyed once.
    expect(
      events.filter((e) => e.type === 'evt.network.failed' && (e.data as { envId: string }).envId === envId),
    ).toHaveLength(1)
    await until(() => of('evt.deploy.failed', id).length === 1, 10_000, 'evt.deploy.failed')
    expect(of('evt.deploy.failed', id)[0]?.data).toMatchObject({ step: 'network', compensated: true })
    expect(of('cmd.spot.destroy', id)).toHaveLength(1)
    expect(of('evt.destroyed', id)[0]?.data).toMatchObject({ envId, existed: true })
    // Nothing provisioned is left: the namespace is gone, or going (Kubernetes finalises it).
    const left = await namespaceOf(envId)
    expect(left === undefined || left.metadata.deletionTimestamp !== undefined).toBe(true)
    // The environment that holds the host still serves it.
    const kept = await namespaceOf(holder.envId)
    expect(kept?.metadata.deletionTimestamp).toBeUndefined()
    const hosts = (
      (await admin.list('networking.k8s.io/v1', 'Ingress', kept?.metadata.name)) as Ingress[]
    ).flatMap((i) => i.spec.rules.map((r) => r.host))
    expect(hosts).toEqual([holder.host])
  }, 240_000)
})
