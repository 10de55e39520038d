// The deploy saga on the real bus and database with the router and the simulations: a cmd.deploy.apply
// becomes a ready deployment with its URL; a failing network step undoes the provision (nothing left on
// the platform); the same deploy twice is one deployment; a cancel undoes what was done.
import { randomBytes } from 'node:crypto'
import { sim } from '@rxt/adapter-sim'
import { spot } from '@rxt/adapter-spot'
import type { Envelope } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { router } from '@rxt/router'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deploymentIdOf, orchestrator } from '../src/index.ts'

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

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`deploy sagas on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let driver: ContextDeps<unknown>
    let owner: { authorization: string; orgId: string }
    let stranger: { authorization: string; orgId: string }
    const events: Envelope[] = []
    const run = randomBytes(3).toString('hex')

    const commandFor = (name: string, commitSha = 'a'.repeat(40)) => {
      const envId = `env-${name}-${run}`
      const data = {
        envId,
        projectId: 'prj-shop',
        environment: 'production',
        commitSha,
        artifactRef: `ghcr.io/acme/shop:${commitSha.slice(0, 7)}`,
        overrides: '{}',
        ...manifestOf(`${name}-${run}.acme.example`),
      }
      return { envId, data, id: deploymentIdOf({ ...data, tenantId: owner.orgId }) }
    }
    const apply = async (name: string, commitSha = 'a'.repeat(40)) => {
      const { envId, data, id } = commandFor(name, commitSha)
      await driver.db.transaction((tx) =>
        driver.bus.publish(tx, { type: 'cmd.deploy.apply', tenantId: owner.orgId, key: envId, data }),
      )
      return { envId, id }
    }
    const get = (id: string, authorization = owner.authorization) =>
      runtime.app.inject({ url: `/v1/deployments/${id}`, headers: { authorization } })
    const settled = async (id: string) => {
      let body: { status: string } & Record<string, unknown> = { status: 'unknown' }
      try {
        await until(
          async () => {
            const res = await get(id)
            if (res.statusCode !== 200) return false
            body = res.json()
            return ['ready', 'failed', 'cancelled', 'replaced', 'destroyed'].includes(body.status)
          },
          30_000,
          `deployment ${id} to settle`,
        )
      } catch (error) {
        throw new Error(`${(error as Error).message}; it is ${JSON.stringify(body)}`)
      }
      return body
    }
    const faults = (payload: object) =>
      runtime.app.inject({
        method: 'PUT',
        url: '/v1/admin/sim/sim-container/faults',
        headers: { authorization: owner.authorization },
        payload,
      })
    const objects = (envId: string) =>
      runtime.app.inject({
        url: `/v1/admin/sim/sim-container/environments/${envId}/objects`,
        headers: { authorization: owner.authorization },
      })
    const of = (type: string, id: string) =>
      events.filter((e) => e.type === type && (e.data as { deploymentId: string }).deploymentId === id)

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
              'evt.deploy.started',
              'evt.deploy.ready',
              'evt.deploy.failed',
              'evt.deploy.stopped',
              'cmd.spot.destroy',
            ],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        extensions: spot.extensions,
        contexts: [identity, sim, router, orchestrator, harness],
        database: handle.database,
        env: { SIM_ROLLOUT_MS: '0' },
      })
      owner = await signUp(runtime, `owner-${run}@example.com`)
      stranger = await signUp(runtime, `stranger-${run}@example.com`)
      await until(
        async () =>
          (
            await runtime.app.inject({
              url: '/v1/providers',
              headers: { authorization: owner.authorization },
            })
          )
            .json()
            .items.every((p: { health: { healthy: boolean } }) => p.health.healthy),
        10_000,
        'the simulations report healthy',
      )
    }, 60_000)
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('deploys from cmd.deploy.apply to a ready deployment with its URL, every step shown', async () => {
      const { id, envId } = await apply('ok')
      const deployment = await settled(id)
      expect(deployment).toMatchObject({
        id,
        envId,
        status: 'ready',
        platform: 'rxt-spot',
        provider: 'sim-container',
        urls: [`https://ok-${run}.acme.example`],
        failure: null,
      })
      expect(
        (deployment.steps as { name: string; status: string; attempts: number }[]).map((s) => [
          s.name,
          s.status,
          s.attempts,
        ]),
      ).toEqual([
        ['place', 'succeeded', 1],
        ['provision', 'succeeded', 1],
        ['network', 'succeeded', 1],
        ['verify', 'succeeded', 1],
        ['retire', 'succeeded', 1],
      ])
      await until(() => of('evt.deploy.ready', id).length === 1, 10_000, 'evt.deploy.ready')
      expect(of('evt.deploy.ready', id)[0]?.data).toEqual({
        envId,
        deploymentId: id,
        platform: 'rxt-spot',
        urls: [`https://ok-${run}.acme.example`],
      })
      expect(of('evt.deploy.started', id)).toHaveLength(1)
      expect((await objects(envId)).statusCode).toBe(200)
      // Another tenant does not see it; the environment lists it.
      expect((await get(id, stranger.authorization)).statusCode).toBe(404)
      const list = await runtime.app.inject({
        url: `/v1/environments/${envId}/deployments`,
        headers: { authorization: owner.authorization },
      })
      expect(list.json().items.map((d: { id: string }) => d.id)).toEqual([id])

      // The live stream, replayed for a deployment that is over: every history entry, then `end`.
      const stream = (headers: Record<string, string> = {}) =>
        runtime.app.inject({
          url: `/v1/deployments/${id}/events`,
          headers: { authorization: owner.authorization, ...headers },
        })
      const res = await stream()
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-type']).toContain('text/event-stream')
      const frames = res.body
        .trim()
        .split('\n\n')
        .map((frame) =>
          Object.fromEntries(
            frame
              .split('\n')
              .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
          ),
        )
      expect(frames.map((f) => f.event)).toEqual([
        'started',
        'step-started',
        'step-succeeded',
        'step-started',
        'step-succeeded',
        'step-started',
        'step-succeeded',
        'step-started',
        'step-succeeded',
        'step-started',
        'step-succeeded',
        'succeeded',
        'end',
      ])
      expect(frames.slice(0, -1).map((f) => Number(f.id))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      expect(JSON.parse(frames[2]?.data as string)).toMatchObject({
        kind: 'step-succeeded',
        step: 'place',
        attempt: 1,
      })
      expect(JSON.parse(frames.at(-1)?.data as string)).toEqual({ status: 'ready' })
      // Resumed after the entry it last saw.
      const resumed = await stream({ 'last-event-id': '10' })
      expect(resumed.body.match(/^id: \d+$/gm)).toEqual(['id: 11', 'id: 12'])
      const foreign = await runtime.app.inject({
        url: `/v1/deployments/${id}/events`,
        headers: { authorization: stranger.authorization },
      })
      expect(foreign.statusCode).toBe(404)
      expect(foreign.headers['content-type']).toContain('application/problem+json')
    })

    it('the same deploy twice is one deployment', async () => {
      const first = await apply('twice', 'b'.repeat(40))
      await settled(first.id)
      const second = await apply('twice', 'b'.repeat(40))
      expect(second.id).toBe(first.id)
      await until(() => of('evt.deploy.ready', first.id).length === 1, 10_000, 'ready once')
      // Handled: the second command left the saga as it was (one provision, one ready).
      const res = await get(first.id)
      expect((res.json().steps as { attempts: number }[]).every((s) => s.attempts === 1)).toBe(true)
      expect(of('evt.deploy.started', first.id)).toHaveLength(1)
    })

    it('deploys one at a time per environment: a newer deploy waits, and supersedes an older one waiting', async () => {
      const [first, second, third] = ['1', '2', '3'].map((n) => commandFor('queue', n.repeat(40))) as [
        ReturnType<typeof commandFor>,
        ReturnType<typeof commandFor>,
        ReturnType<typeof commandFor>,
      ]
      await driver.db.transaction((tx) =>
        driver.bus.publishAll(
          tx,
          [first, second, third].map((c) => ({
            type: 'cmd.deploy.apply',
            tenantId: owner.orgId,
            key: c.envId,
            data: c.data,
          })),
        ),
      )
      const a = await settled(first.id)
      const c = await settled(third.id)
      // The third replaced the first: the environment runs it now.
      expect(c).toMatchObject({ status: 'ready', current: true })
      expect((await get(first.id)).json()).toMatchObject({ status: 'replaced', current: false })
      expect(a.succeededAt).not.toBeNull()
      await until(() => of('evt.deploy.stopped', first.id).length === 1, 10_000, 'the first stopped')
      expect(of('evt.deploy.stopped', first.id)[0]?.data).toMatchObject({ reason: 'superseded' })
      expect((await get(second.id)).json()).toMatchObject({ status: 'superseded', steps: expect.any(Array) })
      expect(of('evt.deploy.started', second.id)).toEqual([])
      // Never both at once: the third started after the first was done.
      const started = async (id: string) =>
        (((await get(id)).json().steps as { startedAt: string | null }[])[0]?.startedAt ?? '') as string
      const firstEnded = ((await get(first.id)).json().steps as { endedAt: string }[]).at(-1)?.endedAt as string
      expect(Date.parse(await started(third.id))).toBeGreaterThanOrEqual(Date.parse(firstEnded))
      // A queued deployment is cancelled at once, with nothing to undo (the running one is held at its
      // network step meanwhile: the simulation is unavailable, so the step waits for its retry).
      expect((await faults({ failOperation: 'configureNetwork', code: 'unavailable' })).statusCode).toBe(200)
      try {
        const [busy, waiting] = ['4', '5'].map((n) => commandFor('cancel-queued', n.repeat(40))) as [
          ReturnType<typeof commandFor>,
          ReturnType<typeof commandFor>,
        ]
        await driver.db.transaction((tx) =>
          driver.bus.publishAll(
            tx,
            [busy, waiting].map((x) => ({
              type: 'cmd.deploy.apply',
              tenantId: owner.orgId,
              key: x.envId,
              data: x.data,
            })),
          ),
        )
        await until(
          async () =>
            (await get(waiting.id)).statusCode === 200 && (await get(waiting.id)).json().status === 'queued',
          10_000,
          'the second deployment queued',
        )
        const cancelled = await runtime.app.inject({
          method: 'POST',
          url: `/v1/deployments/${waiting.id}/cancel`,
          headers: { authorization: owner.authorization },
        })
        expect(cancelled.json()).toMatchObject({ status: 'cancelled' })
        // The running one's stream is open while it waits, and tells the retry as it happens.
        const live = runtime.app.inject({
          url: `/v1/deployments/${busy.id}/events`,
          headers: { authorization: owner.authorization },
        })
        await until(
          async () => (await get(busy.id)).json().steps?.[2]?.status === 'failed',
          15_000,
          'the network step to fail once',
        )
        await faults({})
        expect((await settled(busy.id)).status).toBe('ready')
        const told = (await live).body
        expect(told).toMatch(/event: retry-scheduled\n/)
        expect(told.trim().endsWith('event: end\ndata: {"status":"ready"}')).toBe(true)
        expect((await get(waiting.id)).json().status).toBe('cancelled')
        expect(of('evt.deploy.started', waiting.id)).toEqual([])
      } finally {
        await faults({})
      }
    }, 90_000)

    it('undoes the provision when the network step fails, and nothing is left on the platform', async () => {
      expect((await faults({ failOperation: 'configureNetwork', code: 'invalid' })).statusCode).toBe(200)
      try {
        const { id, envId } = await apply('broken')
        const deployment = await settled(id)
        expect(deployment).toMatchObject({
          status: 'failed',
          failure: { step: 'network', code: 'network-refused' },
          compensationFailures: [],
          urls: [],
        })
        expect(
          (deployment.steps as { name: string; status: string }[]).map((s) => [s.name, s.status]),
        ).toEqual([
          ['place', 'succeeded'],
          ['provision', 'compensated'],
          ['network', 'failed'],
          ['verify', 'pending'],
          ['retire', 'pending'],
        ])
        await until(() => of('evt.deploy.failed', id).length === 1, 10_000, 'evt.deploy.failed')
        expect(of('evt.deploy.failed', id)[0]?.data).toMatchObject({ step: 'network', compensated: true })
        expect(of('evt.deploy.stopped', id)).toHaveLength(1)
        expect(of('cmd.spot.destroy', id)).toHaveLength(1)
        expect((await objects(envId)).statusCode).toBe(404)
      } finally {
        await faults({})
      }
    })
  })
}
