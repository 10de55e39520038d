import { randomBytes } from 'node:crypto'
import { type DeployPlan, deployPlanFixture, type Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { Label, labelValue } from '@rxt/platform-sdk'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { api } from '../../../tools/peers/cluster.ts'
import { spot } from '../src/index.ts'
import type { Kube } from '../src/kube.ts'
import {
  forbiddenImages,
  prepareCluster,
  refuseForbiddenImages,
  spotKubeconfigPath,
} from '../src/test-cluster.ts'

const kubeconfigPath = inject('kubeconfigPath')
const skipped = inject('kubeSkipReason') !== ''

describe.skipIf(skipped)('the spot context: commands, events and the kubeconfig broker', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let admin: Kube
  let driver: ContextDeps<unknown>
  let owner: { authorization: string; orgId: string; userId: string }
  let stranger: { authorization: string; orgId: string }
  const events: Envelope[] = []
  const run = randomBytes(3).toString('hex')
  const envIds: string[] = []

  const of = (type: string, envId: string) =>
    events.filter((e) => e.type === type && (e.data as { envId: string }).envId === envId)
  const command = async (type: string, data: DeployPlan) =>
    driver.db.transaction((tx) =>
      driver.bus.publish(tx, { type, tenantId: owner.orgId, key: data.envId, data }),
    )
  /** A plan as the router makes one: two replicas of shop on port 8080, public under the given host. */
  const planOf = (name: string, artifactRef: string): DeployPlan => {
    const plan = deployPlanFixture('rxt-spot', 'rxt-spot')
    const envId = `env-${name}-${run}`
    const deploymentId = `dep-${name}-${run}`
    return {
      ...plan,
      tenantId: owner.orgId,
      envId,
      deploymentId,
      provision: {
        ...plan.provision,
        key: `${deploymentId}:provision`,
        tenantId: owner.orgId,
        envId,
        name: `shop-${name}`,
        quota: { cpu: 1, memoryMiB: 1024, storageGiB: 0 },
      },
      deploy: {
        ...plan.deploy,
        key: `${deploymentId}:deploy`,
        envId,
        image: artifactRef,
        replicas: 2,
        resources: { cpu: 0.25, memoryMiB: 256 },
        secrets: [],
      },
      network: {
        key: `${deploymentId}:network`,
        envId,
        visibility: 'public',
        hostnames: [`shop-${run}.acme.example`],
        tls: 'required',
        port: 8080,
        protocol: 'http',
      },
    }
  }
  const plans = new Map<string, DeployPlan>()
  /** The environment provisioned (evt.provisioned), then the workload sent (cmd.spot.rollout), as the saga does. */
  const provision = async (name: string, artifactRef: string) => {
    const plan = planOf(name, artifactRef)
    envIds.push(plan.envId)
    plans.set(plan.envId, plan)
    await command('cmd.spot.provision.request', plan)
    await until(
      () => of('evt.provisioned', plan.envId).length > 0 || of('evt.provision.failed', plan.envId).length > 0,
      60_000,
      'the provision answered',
    )
    expect(of('evt.provision.failed', plan.envId)).toEqual([])
    await command('cmd.spot.rollout', plan)
    return plan.envId
  }

  beforeAll(async () => {
    handle = await (dbTargets()[0] as ReturnType<typeof dbTargets>[number]).create()
    ;({ admin } = await prepareCluster(kubeconfigPath))
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps
      },
      handlers: () => [
        {
          id: 'collect',
          types: [
            'evt.provisioned',
            'evt.provision.failed',
            'evt.rolled.out',
            'evt.rollout.failed',
            'evt.network.ready',
            'evt.network.failed',
            'evt.spot.pod.created',
            'evt.spot.ingress.configured',
            'evt.spot.credentials.issued',
            'evt.destroyed',
            'evt.destroy.failed',
          ],
          handle: async (message) => {
            events.push(message)
          },
        },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, spot, harness],
      database: handle.database,
      env: { SPOT_KUBECONFIG: spotKubeconfigPath, SPOT_ROLLOUT_TIMEOUT_MS: '150000' },
    })
    owner = await signUp(runtime, `owner-${run}@example.com`)
    stranger = await signUp(runtime, `stranger-${run}@example.com`)
  }, 120_000)
  afterAll(async () => {
    for (const envId of envIds) {
      const [ns] = await admin.list('v1', 'Namespace', undefined, `${Label.environment}=${labelValue(envId)}`)
      if (ns !== undefined)
        await admin.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns.metadata.name })
    }
    await runtime?.stop()
    await handle?.dispose()
  }, 60_000)

  it('provisions and deploys from a command, tells each pod once it runs, and routes its hostname', async () => {
    const envId = await provision('ok', 'registry.example/acme/shop:1.0.0')
    const provisioned = of('evt.provisioned', envId)[0]?.data as {
      provider: string
      platform: string
      resourceIds: string[]
    }
    expect(provisioned).toMatchObject({ provider: 'rxt-spot', platform: 'rxt-spot' })
    expect(provisioned.resourceIds).toContainEqual(expect.stringMatching(/^Namespace:shop-ok-/))
    expect(provisioned.resourceIds).not.toContainEqual(expect.stringMatching(/^Deployment:/))
    await until(
      () => of('evt.rolled.out', envId).length > 0 || of('evt.rollout.failed', envId).length > 0,
      60_000,
      'the rollout answered',
    )
    expect(of('evt.rollout.failed', envId)).toEqual([])
    const rolled = of('evt.rolled.out', envId)[0]?.data as { image: string; resourceIds: string[] }
    expect(rolled.image).toBe('registry.example/acme/shop:1.0.0')
    expect(rolled.resourceIds).toContainEqual(expect.stringMatching(/^Deployment:shop-ok-/))
    await until(() => of('evt.spot.pod.created', envId).length === 2, 150_000, 'two pods told')
    expect(
      new Set(of('evt.spot.pod.created', envId).map((e) => (e.data as { podId: string }).podId)).size,
    ).toBe(2)

    await command('cmd.spot.network.configure', plans.get(envId) as DeployPlan)
    await until(
      () => of('evt.network.ready', envId).length > 0 || of('evt.network.failed', envId).length > 0,
      30_000,
      'network',
    )
    expect(of('evt.network.ready', envId)[0]?.data).toMatchObject({
      hostnames: [`shop-${run}.acme.example`],
      provider: 'rxt-spot',
    })
    await until(() => of('evt.spot.ingress.configured', envId).length > 0, 10_000, 'ingress told')
    // The route leads somewhere: the Ingress's backend Service selects the workload's pods.
    const [ns] = await admin.list('v1', 'Namespace', undefined, `${Label.environment}=${labelValue(envId)}`)
    const ingress = (
      await admin.list('networking.k8s.io/v1', 'Ingress', ns?.metadata.name)
    )[0] as unknown as {
      spec: { rules: { http: { paths: { backend: { service: { name: string } } }[] } }[] }
    }
    const backend = ingress.spec.rules[0]?.http.paths[0]?.backend.service.name as string
    const service = (await admin.read({
      apiVersion: 'v1',
      kind: 'Service',
      name: backend,
      namespace: ns?.metadata.name,
    })) as unknown as {
      spec: { selector: Record<string, string>; ports: { port: number }[] }
    }
    expect(service.spec.ports.map((p) => p.port)).toEqual([8080])
    const pods = await admin.list(
      'v1',
      'Pod',
      ns?.metadata.name,
      Object.entries(service.spec.selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    )
    expect(pods).toHaveLength(2)
    expect(of('evt.spot.ingress.configured', envId)[0]?.data).toMatchObject({
      hostname: `shop-${run}.acme.example`,
    })
  }, 240_000)

  it('answers a workload the API server refuses with evt.rollout.failed carrying its message', async () => {
    const removePolicy = await refuseForbiddenImages(admin, `rxt-test-context-${run}`, {
      [Label.tenant]: labelValue(owner.orgId),
    })
    try {
      // The API server needs a moment to see a new policy: ask until it refuses.
      let envId = ''
      for (let i = 0; i < 20; i++) {
        envId = await provision(`refused-${i}`, 'registry.forbidden/shop:1')
        await until(
          () => of('evt.rolled.out', envId).length > 0 || of('evt.rollout.failed', envId).length > 0,
          60_000,
          'an answer',
        )
        if (of('evt.rollout.failed', envId).length > 0) break
      }
      const failed = of('evt.rollout.failed', envId)[0]?.data as { reason: string; retryable: boolean }
      expect(failed.reason).toContain(forbiddenImages)
      expect(failed.retryable).toBe(false)
      const [ns] = await admin.list('v1', 'Namespace', undefined, `${Label.environment}=${labelValue(envId)}`)
      expect(await admin.list('apps/v1', 'Deployment', ns?.metadata.name)).toEqual([])
    } finally {
      await removePolicy()
    }
  }, 240_000)

  it("brokers a short-lived kubeconfig to the environment's tenant only, and audits it without the token", async () => {
    const envId = envIds[0] as string
    const ask = (authorization?: string) =>
      runtime.app.inject({
        method: 'POST',
        url: `/v1/environments/${envId}/kubeconfig`,
        headers: authorization === undefined ? {} : { authorization },
      })
    expect((await ask()).statusCode).toBe(401)
    expect((await ask(stranger.authorization)).statusCode).toBe(404)
    const res = await ask(owner.authorization)
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = res.json() as { namespace: string; expiresAt: string; kubeconfig: string }
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(3_500_000)
    expect(Date.parse(body.expiresAt) - Date.now()).toBeLessThanOrEqual(3_600_000)
    const token = /token: "([^"]+)"/.exec(body.kubeconfig)?.[1] as string
    expect((await api(token, `/api/v1/namespaces/${body.namespace}/pods`)).status).toBe(200)
    await until(() => of('evt.spot.credentials.issued', envId).length > 0, 10_000, 'the audit event')
    const audit = of('evt.spot.credentials.issued', envId)[0] as Envelope
    expect(audit.data).toMatchObject({
      namespace: body.namespace,
      serviceAccount: 'rxt-env',
      issuedTo: `user:${owner.userId}`,
    })
    expect(JSON.stringify(audit)).not.toContain(token)
  })

  it('destroys an environment on command, and answers a second destroy of it too', async () => {
    const plan = planOf('gone', 'registry.example/acme/shop:1.0.0')
    envIds.push(plan.envId)
    await command('cmd.spot.provision.request', plan)
    await until(() => of('evt.provisioned', plan.envId).length > 0, 60_000, 'provisioned')
    const destroy = () =>
      driver.db.transaction((tx) =>
        driver.bus.publish(tx, {
          type: 'cmd.spot.destroy',
          tenantId: owner.orgId,
          key: plan.envId,
          data: {
            envId: plan.envId,
            deploymentId: plan.deploymentId,
            tenantId: owner.orgId,
            provider: 'rxt-spot',
            reason: 'the test is done with it',
          },
        }),
      )
    await destroy()
    await until(
      () => of('evt.destroyed', plan.envId).length > 0 || of('evt.destroy.failed', plan.envId).length > 0,
      60_000,
      'destroyed',
    )
    expect(of('evt.destroy.failed', plan.envId)).toEqual([])
    expect(of('evt.destroyed', plan.envId)[0]?.data).toMatchObject({
      envId: plan.envId,
      deploymentId: plan.deploymentId,
      platform: 'rxt-spot',
      provider: 'rxt-spot',
      existed: true,
    })
    // The namespace is gone (or going: Kubernetes finalises it).
    const [ns] = await admin.list(
      'v1',
      'Namespace',
      undefined,
      `${Label.environment}=${labelValue(plan.envId)}`,
    )
    expect(
      ns === undefined ||
        (ns as { metadata: { deletionTimestamp?: string } }).metadata.deletionTimestamp !== undefined,
    ).toBe(true)
    // A compensation may run twice: the second destroy is answered too.
    await destroy()
    await until(() => of('evt.destroyed', plan.envId).length === 2, 60_000, 'the second answer')
  }, 180_000)
})
