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
import { placement } from '@rxt/placement'
import { policy } from '@rxt/policy'
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

/** A manifest whose production override routes another host name (what a promotion there uses). */
const stagedManifestOf = (stagingHost: string, productionHost: string) => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 1
  platform: {preference: container}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [${stagingHost}], tls: required}
  environments:
    production:
      network: {visibility: public, hostnames: [${productionHost}], tls: required}
`)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

/**
 * A deploy.yaml of a card-data (PCI-DSS) service, reached privately: placement advises VMs for it; the
 * policy that it runs on VMs only decides.
 */
const pciManifestOf = () => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: cards}
spec:
  image: ghcr.io/acme/cards:3.0.1
  replicas: 1
  resources: {cpu: 500m, memory: 512Mi}
  platform: {preference: auto, constraints: {compliance: [pci-dss]}}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: private}
`)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

/** A deploy.yaml of a stateful service (a volume): placement puts it on the VM platform. */
const statefulManifestOf = () => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: ledger}
spec:
  image: ghcr.io/acme/ledger:1.0.0
  replicas: 1
  stateful: true
  volumes: [{name: data, mountPath: /var/lib/ledger, size: 10Gi}]
  resources: {cpu: "1", memory: 1Gi}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: private}
`)
  if (!loaded.ok) throw new Error(`the test manifest is valid: ${JSON.stringify(loaded)}`)
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
              'cmd.spot.provision.request',
              'cmd.sddc.provision.request',
              'evt.policy.violation',
              'evt.placement.recommended',
            ],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        extensions: spot.extensions,
        contexts: [identity, sim, router, placement, policy, orchestrator, harness],
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
        ['admission', 'succeeded', 1],
        ['plan', 'succeeded', 1],
        ['secrets', 'succeeded', 1],
        ['provision', 'succeeded', 1],
        ['rollout', 'succeeded', 1],
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
      expect(frames.slice(0, -1).map((f) => Number(f.id))).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      )
      expect(JSON.parse(frames[2]?.data as string)).toMatchObject({
        kind: 'step-succeeded',
        step: 'place',
        attempt: 1,
      })
      expect(JSON.parse(frames.at(-1)?.data as string)).toEqual({ status: 'ready' })
      // Resumed after the entry it last saw.
      const resumed = await stream({ 'last-event-id': '18' })
      expect(resumed.body.match(/^id: \d+$/gm)).toEqual(['id: 19', 'id: 20'])
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
      // A superseded deployment never started: its workflow is its status, with no history; there is
      // nothing to cancel.
      const never = await runtime.app.inject({
        url: `/v1/workflows/${second.id}`,
        headers: { authorization: owner.authorization },
      })
      expect(never.json()).toMatchObject({ status: 'superseded', step: null, history: [] })
      const late = await runtime.app.inject({
        method: 'POST',
        url: `/v1/deployments/${second.id}/cancel`,
        headers: { authorization: owner.authorization },
      })
      expect(late.statusCode).toBe(409)
      expect(late.json().detail).toMatch(/is superseded/)
      // Never both at once: the third started after the first was done.
      const started = async (id: string) =>
        (((await get(id)).json().steps as { startedAt: string | null }[])[0]?.startedAt ?? '') as string
      const firstEnded = ((await get(first.id)).json().steps as { endedAt: string }[]).at(-1)
        ?.endedAt as string
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
          async () =>
            (await get(busy.id)).json().steps?.find((x: { name: string }) => x.name === 'network')?.status ===
            'failed',
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
      // The third platform call from now (the network's, after the provision's and the rollout's) is
      // refused: a one-off fault, so the simulation's health probe stays good and placement takes it.
      expect((await faults({ failCall: 3, code: 'invalid' })).statusCode).toBe(200)
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
          ['admission', 'succeeded'],
          ['plan', 'succeeded'],
          ['secrets', 'succeeded'],
          ['provision', 'compensated'],
          ['rollout', 'compensated'],
          ['network', 'failed'],
          ['verify', 'pending'],
          ['retire', 'pending'],
        ])
        await until(() => of('evt.deploy.failed', id).length === 1, 10_000, 'evt.deploy.failed')
        expect(of('evt.deploy.failed', id)[0]?.data).toMatchObject({ step: 'network', compensated: true })
        // Its workload ran from its rollout until that was undone: one start, one stop, to meter.
        expect(of('evt.deploy.started', id)).toHaveLength(1)
        expect(of('evt.deploy.stopped', id)).toHaveLength(1)
        expect(of('cmd.spot.destroy', id)).toHaveLength(1)
        expect((await objects(envId)).statusCode).toBe(404)
      } finally {
        await faults({})
      }
    })

    it('undoes the provision when the rollout is refused, and nothing is left on the platform', async () => {
      // The second platform call from now (the rollout's, after the provision's) is refused: a one-off
      // fault, so the simulation's health probe stays good and placement still takes it.
      expect((await faults({ failCall: 2, code: 'rejected' })).statusCode).toBe(200)
      try {
        const { id, envId } = await apply('refused')
        const deployment = await settled(id)
        expect(deployment).toMatchObject({
          status: 'failed',
          failure: { step: 'rollout', code: 'platform-refused' },
          compensationFailures: [],
          urls: [],
        })
        const steps = deployment.steps as { name: string; status: string; attempts: number }[]
        expect(steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
          ['place', 'succeeded', 1],
          ['admission', 'succeeded', 1],
          ['plan', 'succeeded', 1],
          ['secrets', 'succeeded', 1],
          ['provision', 'compensated', 1],
          ['rollout', 'failed', 1],
          ['network', 'pending', 0],
          ['verify', 'pending', 0],
          ['retire', 'pending', 0],
        ])
        await until(() => of('evt.deploy.failed', id).length === 1, 10_000, 'evt.deploy.failed')
        expect(of('evt.deploy.failed', id)[0]?.data).toMatchObject({ step: 'rollout', compensated: true })
        // Nothing of it ran: no start or stop to meter.
        expect(of('evt.deploy.started', id)).toEqual([])
        expect(of('evt.deploy.stopped', id)).toEqual([])
        expect(of('cmd.spot.destroy', id)).toHaveLength(1)
        expect((await objects(envId)).statusCode).toBe(404)
      } finally {
        await faults({})
      }
    }, 90_000)

    /** What the registry tells of an environment (evt.project.updated), then of its deploy.yaml (evt.manifest.recorded). */
    const registryEvents = (
      envId: string,
      envName: string,
      manifest: { manifest: string; manifestDigest: string },
    ) => [
      {
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
                name: envName,
                type: envName === 'production' ? 'production' : 'staging',
                promotionOrder: envName === 'production' ? 1 : 0,
                overridesDigest: `sha256:${'0'.repeat(64)}`,
                overrides: '{}',
              },
            ],
          },
          updatedBy: 'user:usr_ada',
        },
      },
      {
        type: 'evt.manifest.recorded',
        tenantId: owner.orgId,
        key: envId,
        data: {
          projectId: 'prj-shop',
          envId,
          environment: envName,
          ...manifest,
          commitSha: null,
          recordedBy: 'user:usr_ada',
        },
      },
    ]
    const tell = (events: ReturnType<typeof registryEvents>) =>
      driver.db.transaction((tx) => driver.bus.publishAll(tx, events))
    /** The registry tells of an environment and records its deploy.yaml, as it does on a push. */
    const environmentOf = async (
      name: string,
      envName: string,
      manifest: { manifest: string; manifestDigest: string },
    ) => {
      const envId = `env-${name}-${run}`
      await tell(registryEvents(envId, envName, manifest))
      return envId
    }
    const post = (url: string, payload?: object, headers: Record<string, string> = {}) =>
      runtime.app.inject({
        method: 'POST',
        url,
        headers: { authorization: owner.authorization, ...headers },
        ...(payload === undefined ? {} : { payload }),
      })
    /** A deploy by hand; `key` is the Idempotency-Key that was answered 202 (a refusal is kept for its key too). */
    const deployManually = async (envId: string, tag: string) => {
      const attempt = (key: string) =>
        post(
          `/v1/environments/${envId}/deployments`,
          { artifactRef: `ghcr.io/acme/shop:${tag}` },
          {
            'idempotency-key': key,
          },
        )
      let key = `key-${tag}-${run}`
      let res = await attempt(key)
      // The environment and its manifest arrive by the bus: until then the deploy is refused, and says why.
      for (let i = 0; i < 200 && (res.statusCode === 404 || res.statusCode === 409); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        key = `key-${tag}-${run}-${i}`
        res = await attempt(key)
      }
      expect(res.statusCode, res.body).toBe(202)
      return { ...(res.json() as { id: string; status: string }), key }
    }
    const runs = async (envId: string) => {
      const res = await objects(envId)
      return res.statusCode === 200 ? JSON.stringify(res.json().steps.workload) : null
    }

    it('waits for a deploy.yaml still on its way from the registry, rather than refusing a quick client', async () => {
      const envId = `env-quick-${run}`
      const [project, recorded] = registryEvents(envId, 'staging', manifestOf(`quick-${run}.acme.example`))
      await tell([project] as ReturnType<typeof registryEvents>)
      // Known, without its manifest: past the wait, refused, saying what is missing.
      const attempt = () =>
        post(`/v1/environments/${envId}/deployments`, { artifactRef: 'ghcr.io/acme/shop:q0' })
      let refused = await attempt()
      for (let i = 0; i < 200 && refused.statusCode === 404; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        refused = await attempt()
      }
      expect(refused.statusCode).toBe(409)
      expect(refused.json().detail).toMatch(/has no deploy\.yaml recorded/)
      // A client that records and deploys at once: its manifest arrives while the deploy waits.
      const deploy = post(`/v1/environments/${envId}/deployments`, { artifactRef: 'ghcr.io/acme/shop:q1' })
      await new Promise((resolve) => setTimeout(resolve, 300))
      await tell([recorded] as ReturnType<typeof registryEvents>)
      const res = await deploy
      expect(res.statusCode, res.body).toBe(202)
    })

    it('deploys an artifact by hand with the environment’s manifest; the same Idempotency-Key is the same deployment', async () => {
      const unknown = await post(`/v1/environments/env-nowhere-${run}/deployments`, {
        artifactRef: 'ghcr.io/acme/shop:1',
      })
      expect(unknown.statusCode).toBe(404)
      const envId = await environmentOf('manual', 'staging', manifestOf(`manual-${run}.acme.example`))
      const first = await deployManually(envId, 'm1')
      const again = await post(
        `/v1/environments/${envId}/deployments`,
        { artifactRef: 'ghcr.io/acme/shop:m1' },
        {
          'idempotency-key': first.key,
        },
      )
      expect(again.statusCode).toBe(202)
      expect(again.json().id).toBe(first.id)
      const ready = await settled(first.id)
      expect(ready).toMatchObject({
        status: 'ready',
        trigger: 'manual',
        requestedBy: expect.stringMatching(/^user:/),
        current: true,
        artifactRef: 'ghcr.io/acme/shop:m1',
      })
      expect(await runs(envId)).toContain('ghcr.io/acme/shop:m1')
      // Another tenant cannot deploy there, nor read it.
      const foreign = await runtime.app.inject({
        method: 'POST',
        url: `/v1/environments/${envId}/deployments`,
        headers: { authorization: stranger.authorization },
        payload: { artifactRef: 'ghcr.io/acme/shop:evil' },
      })
      expect(foreign.statusCode).toBe(404)
      // A malformed artifact is refused with where the problem is.
      const bad = await post(`/v1/environments/${envId}/deployments`, { artifactRef: 'not an image' })
      expect(bad.statusCode).toBe(400)
      expect(bad.headers['content-type']).toContain('application/problem+json')
    }, 90_000)

    it('a rotated secret that asks for it redeploys what the environments named run, as it was', async () => {
      const envId = await environmentOf('rotation', 'staging', manifestOf(`rotation-${run}.acme.example`))
      const v1 = await settled((await deployManually(envId, 'rot1')).id)
      expect(v1.status).toBe('ready')
      const rotated = (redeployEnvIds: string[] | undefined) =>
        driver.db.transaction((tx) =>
          driver.bus.publish(tx, {
            type: 'evt.secret.rotated',
            tenantId: owner.orgId,
            key: 'secret://db/url',
            data: {
              secretRef: 'secret://db/url',
              envId,
              version: 2,
              previousVersion: 1,
              rotatedAt: new Date().toISOString(),
              previousExpiresAt: null,
              ...(redeployEnvIds === undefined ? {} : { redeployEnvIds }),
            },
          }),
        )
      const list = async () =>
        (
          await runtime.app.inject({
            url: `/v1/environments/${envId}/deployments`,
            headers: { authorization: owner.authorization },
          })
        ).json().items as { id: string; trigger: string; sourceDeploymentId: string | null }[]
      // A rotation that asks for no redeploy deploys nothing; one naming an unknown environment neither.
      await rotated(undefined)
      await rotated([`env-unknown-${run}`])
      await rotated([envId])
      let redeploy: { id: string } | undefined
      await until(
        async () => {
          redeploy = (await list()).find((d) => d.trigger === 'rotation')
          return redeploy !== undefined
        },
        20_000,
        'a redeploy on rotation',
      )
      const again = await settled((redeploy as { id: string }).id)
      expect(again).toMatchObject({
        status: 'ready',
        trigger: 'rotation',
        sourceDeploymentId: v1.id,
        artifactRef: 'ghcr.io/acme/shop:rot1',
        current: true,
      })
      // The same rotation told twice is one redeploy.
      await rotated([envId])
      expect((await list()).filter((d) => d.trigger === 'rotation')).toHaveLength(1)
    }, 90_000)

    it('a failed redeploy gives the environment back what it ran; a rollback deploys an earlier one again', async () => {
      const envId = await environmentOf('redeploy', 'staging', manifestOf(`redeploy-${run}.acme.example`))
      const v1 = await settled((await deployManually(envId, 'v1')).id)
      expect(v1.status).toBe('ready')
      // v2 fails at its verify step: the environment must keep running v1, not be destroyed.
      // Its fourth platform call (provision, rollout, network, then the verify's status read) fails.
      expect((await faults({ failCall: 4, code: 'invalid' })).statusCode).toBe(200)
      let v2: Awaited<ReturnType<typeof settled>>
      try {
        v2 = await settled((await deployManually(envId, 'v2')).id)
      } finally {
        await faults({})
      }
      expect(v2).toMatchObject({
        status: 'failed',
        failure: { step: 'verify', code: 'unhealthy' },
        compensationFailures: [],
      })
      expect((v2.steps as { name: string; status: string }[]).map((s) => [s.name, s.status])).toEqual([
        ['place', 'succeeded'],
        ['admission', 'succeeded'],
        ['plan', 'succeeded'],
        ['secrets', 'succeeded'],
        ['provision', 'compensated'],
        ['rollout', 'compensated'],
        ['network', 'compensated'],
        ['verify', 'failed'],
        ['retire', 'pending'],
      ])
      expect(of('cmd.spot.destroy', v2.id as string)).toEqual([])
      expect(await runs(envId)).toContain('ghcr.io/acme/shop:v1')
      expect((await get(v1.id as string)).json()).toMatchObject({ status: 'ready', current: true })

      // v3 replaces v1; rolling back to v1 deploys its artifact and manifest again.
      const v3 = await settled((await deployManually(envId, 'v3')).id)
      expect(v3).toMatchObject({ status: 'ready', current: true })
      expect((await post(`/v1/deployments/${v3.id}/rollback`)).statusCode).toBe(409)
      expect((await post(`/v1/deployments/${v2.id}/rollback`)).json().detail).toMatch(/never ready/)
      const back = await post(`/v1/deployments/${v1.id}/rollback`)
      expect(back.statusCode).toBe(202)
      const rolled = await settled(back.json().id)
      expect(rolled).toMatchObject({
        status: 'ready',
        trigger: 'rollback',
        sourceDeploymentId: v1.id,
        artifactRef: 'ghcr.io/acme/shop:v1',
        manifestDigest: v1.manifestDigest,
        current: true,
      })
      expect(await runs(envId)).toContain('ghcr.io/acme/shop:v1')
      expect((await get(v3.id as string)).json()).toMatchObject({ status: 'replaced', current: false })
      await until(() => of('evt.deploy.stopped', v3.id as string).length === 1, 10_000, 'v3 stopped')
      expect(of('evt.deploy.stopped', v3.id as string)[0]?.data).toMatchObject({ reason: 'rolled-back' })
      // The engine view tells the same, with the saga's history.
      const workflow = await runtime.app.inject({
        url: `/v1/workflows/${rolled.id}`,
        headers: { authorization: owner.authorization },
      })
      expect(workflow.json()).toMatchObject({
        id: rolled.id,
        type: 'rollback',
        saga: 'deploy',
        status: 'succeeded',
      })
      expect(workflow.json().history.at(-1)).toMatchObject({ kind: 'succeeded' })
      expect(
        (
          await runtime.app.inject({
            url: `/v1/workflows/${rolled.id}`,
            headers: { authorization: stranger.authorization },
          })
        ).statusCode,
      ).toBe(404)
    }, 120_000)

    it('promotes what is healthy in one environment to another, and destroys an environment confirmed by name', async () => {
      const manifest = stagedManifestOf(`stage-${run}.acme.example`, `prod-${run}.acme.example`)
      const staging = await environmentOf('promote-staging', 'staging', manifest)
      const production = await environmentOf('promote-production', 'production', manifest)
      // Nothing healthy in staging yet: refused, saying why.
      let refused = await post(`/v1/environments/${production}/promote`, { from: staging })
      for (let i = 0; i < 100 && refused.statusCode === 404; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        refused = await post(`/v1/environments/${production}/promote`, { from: staging })
      }
      expect(refused.statusCode).toBe(409)
      expect(refused.json().detail).toMatch(/no healthy deployment/)
      const staged = await settled((await deployManually(staging, 's1')).id)
      expect(staged.urls).toEqual([`https://stage-${run}.acme.example`])
      const started = await runtime.app.inject({
        method: 'POST',
        url: '/v1/workflows/promote/start',
        headers: { authorization: owner.authorization },
        payload: { envId: production, from: staging },
      })
      expect(started.statusCode, started.body).toBe(202)
      expect(started.json()).toMatchObject({ type: 'promote', saga: 'deploy' })
      const promoted = await settled(started.json().id)
      expect(promoted).toMatchObject({
        status: 'ready',
        envId: production,
        environment: 'production',
        trigger: 'promote',
        sourceDeploymentId: staged.id,
        artifactRef: 'ghcr.io/acme/shop:s1',
        manifestDigest: staged.manifestDigest,
        urls: [`https://prod-${run}.acme.example`],
      })
      const missing = await runtime.app.inject({
        method: 'POST',
        url: '/v1/workflows/deploy/start',
        headers: { authorization: owner.authorization },
        payload: { envId: production },
      })
      expect(missing.statusCode).toBe(400)
      expect(missing.json().detail).toMatch(/artifactRef/)

      // Destroy: the name must be typed; then everything of production goes, and what ran is destroyed.
      const wrong = await post(`/v1/environments/${production}/destroy`, { confirm: 'staging' })
      expect(wrong.statusCode).toBe(400)
      expect(wrong.json().detail).toMatch(/"production"/)
      const destroy = await post(`/v1/environments/${production}/destroy`, { confirm: 'production' })
      expect(destroy.statusCode, destroy.body).toBe(202)
      const gone = await settled(destroy.json().id)
      expect(gone).toMatchObject({
        kind: 'destroy',
        trigger: 'destroy',
        status: 'destroyed',
        sourceDeploymentId: promoted.id,
      })
      expect((gone.steps as { name: string; status: string }[]).map((s) => [s.name, s.status])).toEqual([
        ['destroy', 'succeeded'],
      ])
      expect((await objects(production)).statusCode).toBe(404)
      expect((await get(promoted.id as string)).json()).toMatchObject({ status: 'destroyed', current: false })
      await until(
        () => of('evt.deploy.stopped', promoted.id as string).length === 1,
        10_000,
        'production stopped',
      )
      expect(of('evt.deploy.stopped', promoted.id as string)[0]?.data).toMatchObject({ reason: 'destroyed' })
      // Staging still runs.
      expect(await runs(staging)).toContain('ghcr.io/acme/shop:s1')
    }, 120_000)

    /** Publishes cmd.deploy.apply of `manifest` to environment `envId`, as the registry does on a push. */
    const applyTo = async (
      envId: string,
      manifest: { manifest: string; manifestDigest: string },
      sha: string,
    ) => {
      const data = {
        envId,
        projectId: 'prj-shop',
        environment: 'production',
        commitSha: sha,
        artifactRef: `ghcr.io/acme/app:${sha.slice(0, 7)}`,
        overrides: '{}',
        ...manifest,
      }
      await driver.db.transaction((tx) =>
        driver.bus.publish(tx, { type: 'cmd.deploy.apply', tenantId: owner.orgId, key: envId, data }),
      )
      return deploymentIdOf({ ...data, tenantId: owner.orgId })
    }

    it('gate: a stateful workload is placed on the VM platform, and the decision is explained', async () => {
      const manifest = statefulManifestOf()
      const envId = await environmentOf('ledger', 'production', manifest)
      const id = await applyTo(envId, manifest, 'c'.repeat(40))
      const deployment = await settled(id)
      const explained = await runtime.app.inject({
        url: `/v1/placement/explain/${envId}`,
        headers: { authorization: owner.authorization },
      })
      expect(deployment, explained.body).toMatchObject({
        status: 'ready',
        provider: 'sim-vm',
        platform: 'sddc-flex',
      })
      const placed = of('evt.placement.recommended', id)[0]?.data as { provider: string; decisionId: string }
      expect(placed).toMatchObject({ provider: 'sim-vm', kind: 'vm' })
      expect(explained.statusCode, explained.body).toBe(200)
      expect(explained.json()).toMatchObject({ decisionId: placed.decisionId, provider: 'sim-vm' })
      for (const c of explained.json().candidates as { filters: { reason: string }[] }[])
        for (const f of c.filters) expect(f.reason).toMatch(/\w+ \w+/)
      expect(
        (
          await runtime.app.inject({
            url: `/v1/placement/explain/${envId}`,
            headers: { authorization: stranger.authorization },
          })
        ).statusCode,
      ).toBe(404)
    }, 90_000)

    it('gate: a PCI workload pinned to Kubernetes is denied at admission before anything exists; approved break-glass lets its retry through', async () => {
      const manifest = pciManifestOf()
      const envId = await environmentOf('cards', 'production', manifest)
      // An operator pins the environment to the container platform: placement follows, policy decides.
      // (once placement has heard of the environment from the registry's news)
      await until(
        async () =>
          (
            await runtime.app.inject({
              method: 'PUT',
              url: `/v1/placement/pins/${envId}`,
              headers: { authorization: owner.authorization },
              payload: { provider: 'sim-container', reason: 'the VM fleet is full this week' },
            })
          ).statusCode === 200,
        10_000,
        'the pin',
      )
      const id = await applyTo(envId, manifest, 'd'.repeat(40))
      const denied = await settled(id)
      expect(denied).toMatchObject({
        status: 'failed',
        failure: {
          step: 'admission',
          code: 'policy-denied',
          reason: expect.stringContaining('PCI-DSS workloads run on VMs only: sim-container is Kubernetes'),
        },
        compensationFailures: [],
        urls: [],
      })
      expect((denied.steps as { name: string; status: string }[]).map((s) => [s.name, s.status])).toEqual([
        ['place', 'succeeded'],
        ['admission', 'failed'],
        ['plan', 'pending'],
        ['secrets', 'pending'],
        ['provision', 'pending'],
        ['rollout', 'pending'],
        ['network', 'pending'],
        ['verify', 'pending'],
        ['retire', 'pending'],
      ])
      // Nothing was asked of a platform; the violation was told.
      expect(of('cmd.spot.provision.request', id)).toEqual([])
      expect(of('cmd.sddc.provision.request', id)).toEqual([])
      expect((await objects(envId)).statusCode).toBe(404)
      await until(() => of('evt.policy.violation', id).length > 0, 10_000, 'evt.policy.violation')
      expect(of('evt.policy.violation', id)[0]?.data).toMatchObject({
        policyId: 'rxt.compliance.pci',
        enforcement: 'deny',
      })

      // Break-glass: the owner asks, another admin approves, the failed deployment is retried.
      const asked = await post('/v1/policy/overrides', {
        deploymentId: id,
        policies: ['rxt.compliance.pci'],
        reason: 'card vault migration: containers until the VM fleet has room',
      })
      expect(asked.statusCode, asked.body).toBe(201)
      const self = await post(`/v1/policy/overrides/${asked.json().id}/approve`)
      expect(self.statusCode).toBe(403)
      const adminSignup = await signUp(runtime, `admin-${run}@example.com`)
      const invite = await post(`/v1/orgs/${owner.orgId}/invites`, {
        email: `admin-${run}@example.com`,
        role: 'admin',
      })
      expect(invite.statusCode, invite.body).toBe(201)
      expect(
        (
          await post(`/v1/invites/${invite.json().token}/accept`, undefined, {
            authorization: adminSignup.authorization,
          })
        ).statusCode,
      ).toBeLessThan(300)
      // An admin of the organisation is no platform operator: pins are not theirs to change.
      const pinByAdmin = await runtime.app.inject({
        method: 'DELETE',
        url: `/v1/placement/pins/${envId}`,
        headers: { authorization: adminSignup.authorization, 'x-rxt-org': owner.orgId },
      })
      expect(pinByAdmin.statusCode, pinByAdmin.body).toBe(403)
      const approved = await post(`/v1/policy/overrides/${asked.json().id}/approve`, undefined, {
        authorization: adminSignup.authorization,
        'x-rxt-org': owner.orgId,
      })
      expect(approved.statusCode, approved.body).toBe(200)
      const retry = await post(`/v1/deployments/${id}/retry`, undefined, {
        'idempotency-key': `retry-${run}`,
      })
      expect(retry.statusCode, retry.body).toBe(202)
      expect(retry.json()).toMatchObject({ trigger: 'retry', sourceDeploymentId: id })
      const retried = await settled(retry.json().id)
      expect(retried).toMatchObject({ status: 'ready', provider: 'sim-container' })
      const explained = await runtime.app.inject({
        url: `/v1/placement/explain/${envId}`,
        headers: { authorization: owner.authorization },
      })
      expect(explained.json()).toMatchObject({
        provider: 'sim-container',
        pin: { provider: 'sim-container' },
      })
      // Only a failed deployment is retried.
      expect((await post(`/v1/deployments/${retry.json().id}/retry`)).statusCode).toBe(409)
    }, 120_000)
  })
}
