// The simulations as a context on the bus: a plan's provision is answered, a destroy removes what it
// applied and is answered (a second time too), and a destroy for another tenant than its envelope's is
// refused (dead-lettered, unanswered).
import { randomBytes } from 'node:crypto'
import { spot } from '@rxt/adapter-spot'
import { type DeployPlan, deployPlanFixture, type Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sim } from '../src/index.ts'

describe('the simulations on the bus: provision and destroy', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let driver: ContextDeps<unknown>
  let operator: { authorization: string; orgId: string }
  const events: Envelope[] = []
  const run = randomBytes(3).toString('hex')
  const of = (type: string, envId: string) =>
    events.filter((e) => e.type === type && (e.data as { envId: string }).envId === envId)
  const send = (type: string, tenantId: string, key: string, data: unknown) =>
    driver.db.transaction((tx) => driver.bus.publish(tx, { type, tenantId, key, data }))
  const objects = (provider: string, envId: string) =>
    runtime.app.inject({
      method: 'GET',
      url: `/v1/admin/sim/${provider}/environments/${envId}/objects`,
      headers: { authorization: operator.authorization },
    })

  beforeAll(async () => {
    handle = await (dbTargets()[0] as ReturnType<typeof dbTargets>[number]).create()
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps
      },
      handlers: () => [
        {
          id: 'collect',
          types: ['evt.provisioned', 'evt.provision.failed', 'evt.destroyed', 'evt.destroy.failed'],
          handle: async (message) => {
            events.push(message)
          },
        },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, sim, harness],
      database: handle.database,
      env: { SIM_ROLLOUT_MS: '0' },
      // The container family's renderer is RXT Spot's, as in the whole build.
      extensions: spot.extensions ?? [],
    })
    operator = await signUp(runtime, `operator-${run}@example.com`)
  }, 60_000)
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  for (const [family, provider, destroyType] of [
    ['rxt-spot', 'sim-container', 'cmd.spot.destroy'],
    ['sddc-flex', 'sim-vm', 'cmd.sddc.destroy'],
  ] as const) {
    it(`${provider}: destroys what a plan provisioned, and answers a second destroy`, async () => {
      const fixture = deployPlanFixture(family, provider)
      const envId = `env-${provider}-${run}`
      const deploymentId = `dep-${provider}-${run}`
      const plan: DeployPlan = {
        ...fixture,
        tenantId: operator.orgId,
        envId,
        deploymentId,
        provision: {
          ...fixture.provision,
          envId,
          tenantId: operator.orgId,
          key: `${deploymentId}:provision`,
        },
        deploy: { ...fixture.deploy, envId, key: `${deploymentId}:deploy` },
        network:
          fixture.network === null ? null : { ...fixture.network, envId, key: `${deploymentId}:network` },
      }
      await send(
        family === 'rxt-spot' ? 'cmd.spot.provision.request' : 'cmd.sddc.provision.request',
        operator.orgId,
        envId,
        plan,
      )
      await until(
        () => of('evt.provisioned', envId).length > 0 || of('evt.provision.failed', envId).length > 0,
        20_000,
        'provisioned',
      )
      expect(of('evt.provision.failed', envId)).toEqual([])
      expect((await objects(provider, envId)).statusCode).toBe(200)

      const destroy = {
        envId,
        deploymentId,
        tenantId: operator.orgId,
        provider,
        reason: 'undo the provision',
      }
      // Not its envelope's tenant: refused, never answered; the environment stays.
      await send(destroyType, 'tnt_someone_else', envId, destroy)
      await until(
        async () =>
          (
            await runtime.app.inject({
              method: 'GET',
              url: '/v1/admin/dead-letters',
              headers: { authorization: operator.authorization },
            })
          )
            .json()
            .items.some((d: { type: string }) => d.type === destroyType),
        20_000,
        'the refused destroy dead-lettered',
      )
      expect(of('evt.destroyed', envId)).toEqual([])
      expect((await objects(provider, envId)).statusCode).toBe(200)

      await send(destroyType, operator.orgId, envId, destroy)
      await until(() => of('evt.destroyed', envId).length === 1, 20_000, 'destroyed')
      expect(of('evt.destroyed', envId)[0]?.data).toEqual({
        envId,
        deploymentId,
        platform: family,
        provider,
        existed: true,
      })
      expect((await objects(provider, envId)).statusCode).toBe(404)
      await send(destroyType, operator.orgId, envId, destroy)
      await until(() => of('evt.destroyed', envId).length === 2, 20_000, 'the second answer')
      expect(of('evt.destroy.failed', envId)).toEqual([])
    })
  }
})
