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
  describe.skipIf(target.skipped !== undefined)(`placing work on providers on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let operator: string
    let driver: ContextDeps<unknown>
    const events: Envelope[] = []
    let tenantId = ''

    const send = async (preference: string, overrides: string | null = '{}', provider = 'sim-container') => {
      const deploymentId = `dep-${randomUUID()}`
      await driver.db.transaction((tx) =>
        driver.bus.publish(tx, {
          type: 'cmd.router.plan',
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
            provider,
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
        () => of(deploymentId, 'evt.route.planned').length + of(deploymentId, 'evt.route.failed').length > 0,
        15_000,
        `an answer for ${deploymentId}`,
      )
      return {
        planned: of(deploymentId, 'evt.route.planned')[0]?.data as
          | { provider: string; platform: string; reason: string; plan: DeployPlan }
          | undefined,
        failed: of(deploymentId, 'evt.route.failed')[0]?.data as
          | { reason: string; retryable?: boolean }
          | undefined,
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
              'evt.route.failed',
              'evt.route.planned',
              'cmd.spot.provision.request',
              'cmd.sddc.provision.request',
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

    it('answers a plan command with the provider and the plan, and sends nothing', async () => {
      for (const [preference, provider, platform] of [
        ['container', 'sim-container', 'rxt-spot'],
        ['vm', 'sim-vm', 'sddc-flex'],
      ] as const) {
        const deploymentId = await send(preference, '{}', provider)
        const { planned, failed } = await outcome(deploymentId)
        expect(failed).toBeUndefined()
        expect(planned).toMatchObject({ provider, platform })
        expect(planned?.plan).toMatchObject({ deploymentId, provider, platform })
        expect(planned?.plan.provision.key).toBe(`${deploymentId}:provision`)
        expect(planned?.plan.network?.hostnames).toEqual(['shop.example.com'])
        expect(planned?.reason.length).toBeGreaterThan(0)
      }
      // Nothing was sent: the saga sends the plan's steps itself.
      expect(events.filter((e) => e.type.startsWith('cmd.'))).toEqual([])
    })

    it("applies the overrides a command carries, and plans nothing with an environment's overrides unknown", async () => {
      const { planned } = await outcome(await send('container', JSON.stringify({ replicas: 3 })))
      expect(planned?.plan.deploy.replicas).toBe(3)
      // Neither in the command nor heard of from the registry: no plan, and why; later may know them.
      const unknown = await outcome(await send('container', null))
      expect(unknown.planned).toBeUndefined()
      expect(unknown.failed).toMatchObject({
        reason: expect.stringContaining('has not heard of environment'),
        retryable: true,
      })
      const broken = await outcome(await send('container', '{"replicas": "three"}'))
      expect(broken.failed).toMatchObject({
        reason: expect.stringContaining('not valid deploy.yaml environment overrides'),
        retryable: false,
      })
    })

    it('plans nothing on a provider an operator disabled, or one it does not know', async () => {
      expect(await call('PATCH', '/v1/providers/sim-container', { enabled: false })).toBe(200)
      try {
        const refused = await outcome(await send('container'))
        expect(refused.planned).toBeUndefined()
        expect(refused.failed).toMatchObject({
          reason: expect.stringContaining('sim-container is disabled'),
          retryable: false,
        })
      } finally {
        await call('PATCH', '/v1/providers/sim-container', { enabled: true })
      }
      expect((await outcome(await send('container'))).planned).toMatchObject({ provider: 'sim-container' })
      const unknown = await outcome(await send('container', '{}', 'nowhere'))
      expect(unknown.failed).toMatchObject({
        reason: 'no provider nowhere is known to the router',
        retryable: false,
      })
    })
  })
}
