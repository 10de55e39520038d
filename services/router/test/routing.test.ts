import { randomUUID } from 'node:crypto'
import { sim } from '@rxt/adapter-sim'
import { spot } from '@rxt/adapter-spot'
import type { DeployPlan, Envelope } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { router } from '../src/index.ts'

const manifestFor = (preference: string) => {
  const loaded = loadManifest(`apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 2
  platform: {preference: ${preference}}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [shop.example.com]}
`)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`routing work to providers on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let operator: string
    let driver: ContextDeps<unknown>
    const events: Envelope[] = []
    let tenantId = ''

    const send = async (
      preference: string,
      overrides: string | null = '{}',
      type: 'cmd.router.provision' | 'cmd.router.plan' = 'cmd.router.provision',
    ) => {
      const deploymentId = `dep-${randomUUID()}`
      await driver.db.transaction((tx) =>
        driver.bus.publish(tx, {
          type,
          tenantId,
          key: deploymentId,
          data: {
            deploymentId,
            tenantId,
            projectId: 'prj-shop',
            envId: `env-${deploymentId}`,
            environment: 'production',
            artifactRef: 'ghcr.io/acme/shop:1.4.2',
            ...(overrides === null ? {} : { overrides }),
            ...manifestFor(preference),
          },
        }),
      )
      return deploymentId
    }
    const of = (deploymentId: string, type: string) =>
      events.filter(
        (e) => e.type === type && (e.data as { deploymentId: string }).deploymentId === deploymentId,
      )
    const outcome = async (deploymentId: string) => {
      await until(
        () => of(deploymentId, 'evt.provisioned').length + of(deploymentId, 'evt.route.failed').length > 0,
        15_000,
        `an outcome for ${deploymentId}`,
      )
      return {
        provisioned: of(deploymentId, 'evt.provisioned')[0]?.data as { provider: string } | undefined,
        failed: of(deploymentId, 'evt.route.failed')[0]?.data as
          | { reason: string; tried: unknown[] }
          | undefined,
        decided: of(deploymentId, 'evt.route.decided').map(
          (e) =>
            e.data as { provider: string; attempt: number; tried: { provider: string; reason: string }[] },
        ),
      }
    }
    const call = async (method: string, url: string, payload: object) =>
      (
        await runtime.app.inject({
          method: method as 'PUT',
          url,
          headers: { authorization: operator },
          payload,
        })
      ).statusCode

    beforeAll(async () => {
      handle = await target.create()
      const harness = defineContext({
        name: 'harness',
        start: (deps) => {
          driver = deps as ContextDeps<unknown>
        },
        handlers: () => [
          {
            id: 'watch',
            types: [
              'evt.route.decided',
              'evt.route.failed',
              'evt.route.planned',
              'evt.provisioned',
              'evt.provision.failed',
              'cmd.spot.provision.request',
              'cmd.spot.network.configure',
              'evt.network.ready',
            ],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        extensions: spot.extensions,
        contexts: [identity, sim, router, harness],
        database: handle.database,
      })
      const op = await signUp(runtime, 'op@example.com')
      operator = op.authorization
      tenantId = op.orgId
      await until(
        async () =>
          (await runtime.app.inject({ url: '/v1/providers', headers: { authorization: operator } }))
            .json()
            .items.every((p: { health: { healthy: boolean } }) => p.health.healthy),
        10_000,
        'the simulations report healthy',
      )
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('sends the work to the chosen provider, which provisions it, once per deployment', async () => {
      const deploymentId = await send('container')
      const { provisioned, decided } = await outcome(deploymentId)
      expect(provisioned).toMatchObject({ provider: 'sim-container', platform: 'rxt-spot' })
      expect(decided).toEqual([expect.objectContaining({ provider: 'sim-container', attempt: 1, tried: [] })])
      // The command carries the plan itself: made once, kept with the route, sent again for the network.
      const [command] = of(deploymentId, 'cmd.spot.provision.request')
      const plan = command?.data as DeployPlan
      expect(plan).toMatchObject({ deploymentId, provider: 'sim-container', platform: 'rxt-spot' })
      expect(plan.provision.key).toBe(`${deploymentId}:provision`)
      await until(
        () => of(deploymentId, 'cmd.spot.network.configure').length > 0,
        15_000,
        'the network command is sent',
      )
      expect(of(deploymentId, 'cmd.spot.network.configure')[0]?.data).toEqual(plan)
      const vm = await outcome(await send('vm'))
      expect(vm.provisioned).toMatchObject({ provider: 'sim-vm', platform: 'sddc-flex' })
    })

    it('answers a plan command with the provider and the plan, and sends nothing', async () => {
      const deploymentId = await send('vm', '{}', 'cmd.router.plan')
      await until(
        () => of(deploymentId, 'evt.route.planned').length + of(deploymentId, 'evt.route.failed').length > 0,
        15_000,
        'the plan',
      )
      const planned = of(deploymentId, 'evt.route.planned')[0]?.data as {
        provider: string
        platform: string
        reason: string
        plan: DeployPlan
      }
      expect(planned).toMatchObject({ provider: 'sim-vm', platform: 'sddc-flex' })
      expect(planned.plan).toMatchObject({ deploymentId, provider: 'sim-vm', platform: 'sddc-flex' })
      expect(planned.plan.provision.key).toBe(`${deploymentId}:provision`)
      expect(planned.reason.length).toBeGreaterThan(0)
      // Nothing was sent or recorded as a route: the saga sends the plan's steps itself.
      expect(of(deploymentId, 'evt.route.decided')).toEqual([])
      expect(of(deploymentId, 'evt.provisioned')).toEqual([])
      // Overrides it cannot read: no plan, and why.
      const unknown = await send('vm', '{"replicas":', 'cmd.router.plan')
      await until(() => of(unknown, 'evt.route.failed').length > 0, 15_000, 'the refusal')
      expect(of(unknown, 'evt.route.planned')).toEqual([])
    })

    it('routes the traffic of what was provisioned, on the same provider', async () => {
      for (const [preference, provider, vip] of [
        ['container', 'sim-container', null],
        ['vm', 'sim-vm', expect.stringMatching(/^198\.51\.100\./)],
      ] as const) {
        const deploymentId = await send(preference)
        await until(
          () => of(deploymentId, 'evt.network.ready').length > 0,
          15_000,
          `${provider} routes traffic`,
        )
        expect(of(deploymentId, 'evt.network.ready')[0]?.data).toMatchObject({
          provider,
          hostnames: ['shop.example.com'],
          vip,
        })
      }
      // A provider that cannot route it ends the route, saying so (undoing it is the saga's).
      await call('PUT', '/v1/admin/sim/sim-vm/faults', {
        failOperation: 'configureNetwork',
        code: 'rejected',
      })
      try {
        const deploymentId = await send('vm')
        await until(() => of(deploymentId, 'evt.route.failed').length > 0, 15_000, 'the route ends')
        expect(of(deploymentId, 'evt.route.failed')[0]?.data).toMatchObject({
          reason: expect.stringContaining('sim-vm could not route its traffic'),
        })
        expect(of(deploymentId, 'evt.provisioned')).toHaveLength(1)
      } finally {
        await call('PUT', '/v1/admin/sim/sim-vm/faults', {})
      }
    })

    it('fails over to another provider the manifest allows when the first is unavailable, recording why', async () => {
      expect(
        await call('PUT', '/v1/admin/sim/sim-container/faults', { failOperation: 'provisionEnvironment' }),
      ).toBe(200)
      try {
        const { provisioned, decided } = await outcome(await send('auto'))
        expect(provisioned).toMatchObject({ provider: 'sim-vm' })
        expect(decided.map((d) => [d.provider, d.attempt])).toEqual([
          ['sim-container', 1],
          ['sim-vm', 2],
        ])
        expect(decided[1]?.tried).toEqual([
          { provider: 'sim-container', reason: expect.stringContaining('failed by injection') },
        ])
        // A container-only manifest has nowhere else to go: it fails, saying what was tried.
        const stuck = await outcome(await send('container'))
        expect(stuck.provisioned).toBeUndefined()
        expect(stuck.failed?.reason).toContain('tried sim-container')
      } finally {
        await call('PUT', '/v1/admin/sim/sim-container/faults', {})
      }
    })

    it("applies the overrides a command carries, and deploys nothing with an environment's overrides unknown", async () => {
      const threeReplicas = await send('container', JSON.stringify({ replicas: 3 }))
      await outcome(threeReplicas)
      const [command] = of(threeReplicas, 'cmd.spot.provision.request')
      expect((command?.data as DeployPlan).deploy.replicas).toBe(3)
      // Neither in the command nor heard of from the registry: the route fails, saying why.
      const unknown = await send('container', null)
      const { failed, provisioned } = await outcome(unknown)
      expect(provisioned).toBeUndefined()
      expect(failed?.reason).toContain('has not heard of environment')
      const broken = await send('container', '{"replicas": "three"}')
      expect((await outcome(broken)).failed?.reason).toContain('not valid deploy.yaml environment overrides')
    })

    it('does not fail over from a refusal: the same request would be refused anywhere', async () => {
      await call('PUT', '/v1/admin/sim/sim-container/faults', {
        failOperation: 'deployApplication',
        code: 'rejected',
      })
      try {
        const { failed, decided } = await outcome(await send('auto'))
        expect(decided).toHaveLength(1)
        expect(failed?.reason).toContain('sim-container refused it')
      } finally {
        await call('PUT', '/v1/admin/sim/sim-container/faults', {})
      }
    })

    it('sends no new work to a provider disabled while work flows; what it took finishes', async () => {
      const inFlight = await send('auto')
      await until(() => of(inFlight, 'evt.route.decided').length > 0, 10_000)
      expect(await call('PATCH', '/v1/providers/sim-container', { enabled: false })).toBe(200)
      try {
        const next = await outcome(await send('auto'))
        expect(next.provisioned).toMatchObject({ provider: 'sim-vm' })
        expect((await outcome(inFlight)).provisioned).toMatchObject({ provider: 'sim-container' })
        const refused = await outcome(await send('container'))
        expect(refused.failed?.reason).toMatch(/No provider can run shop/)
      } finally {
        await call('PATCH', '/v1/providers/sim-container', { enabled: true })
      }
    })
  })
}
