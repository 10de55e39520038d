import { randomBytes, randomUUID } from 'node:crypto'
import { sim } from '@rxt/adapter-sim'
import type { Envelope, PlacementFailed, PlacementRecommended } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { registry } from '@rxt/registry'
import { router } from '@rxt/router'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { placement } from '../src/index.ts'

const yaml = (spec: string) => `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`
const web = yaml(`ports: [{name: http, port: 8080, protocol: http}]
network: {visibility: public, hostnames: [shop.example.com]}`)

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`placement on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let driver: ContextDeps<unknown>
    let operator: { authorization: string; orgId: string }
    let other: { authorization: string; orgId: string }
    let envId = ''
    const events: Envelope[] = []

    const call = async (method: string, url: string, authorization: string, payload?: object) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization },
        ...(payload === undefined ? {} : { payload }),
      })
      return { status: res.statusCode, body: res.json() }
    }
    const send = async (text: string, overrides: string | null = '{}', env = envId) => {
      const loaded = loadManifest(text)
      if (!loaded.ok) throw new Error('the test manifest is valid')
      const deploymentId = `dep-${randomUUID()}`
      const sent = await driver.db.transaction((tx) =>
        driver.bus.publish(tx, {
          type: 'cmd.placement.recommend',
          tenantId: operator.orgId,
          key: deploymentId,
          data: {
            deploymentId,
            tenantId: operator.orgId,
            projectId: 'prj-shop',
            envId: env,
            environment: 'production',
            manifest: canonicalManifest(loaded.manifest),
            manifestDigest: manifestDigest(loaded.manifest),
            ...(overrides === null ? {} : { overrides }),
          },
        }),
      )
      await until(() => events.some((e) => e.causationId === sent.id), 15_000, `an answer to ${deploymentId}`)
      const answer = events.find((e) => e.causationId === sent.id) as Envelope
      return answer.type === 'evt.placement.recommended'
        ? { recommended: answer.data as PlacementRecommended, failed: undefined }
        : { recommended: undefined, failed: answer.data as PlacementFailed }
    }

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
            types: ['evt.placement.recommended', 'evt.placement.failed', 'evt.placement.pinned'],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, registry, sim, router, placement, harness],
        database: handle.database,
        env: { WEBHOOK_KEY: randomBytes(32).toString('base64url') },
      })
      // The first account of an installation is its operator.
      operator = await signUp(runtime, 'op@example.com')
      other = await signUp(runtime, 'dev@other.example')
      const project = await call('POST', '/v1/projects', operator.authorization, {
        slug: 'shop',
        name: 'Shop',
      })
      const env = await call('POST', `/v1/projects/${project.body.id}/environments`, operator.authorization, {
        name: 'production',
        type: 'production',
      })
      envId = env.body.id
      // Placement hears of the providers (the router), their health (the simulations) and the
      // environment (the registry) on the bus.
      await until(
        async () =>
          (await call('POST', '/v1/placement/recommend', operator.authorization, { yaml: web, envId }))
            .status === 200,
        15_000,
        'placement hears of the providers and the environment',
      )
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('recommends with every candidate, each filter and score term, and publishes it', async () => {
      const res = await call('POST', '/v1/placement/recommend', operator.authorization, {
        yaml: web,
        environment: 'staging',
      })
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ provider: 'sim-container', platform: 'rxt-spot', kind: 'k8s' })
      expect(res.body.candidates.map((c: { provider: string }) => c.provider).sort()).toEqual([
        'sim-container',
        'sim-vm',
      ])
      for (const c of res.body.candidates) {
        expect(c.filters.length).toBeGreaterThanOrEqual(10)
        expect(c.terms.map((t: { name: string }) => t.name)).toEqual(['cost', 'fit', 'preemption-risk'])
      }
      await until(
        () => events.some((e) => (e.data as { decisionId?: string }).decisionId === res.body.decisionId),
        10_000,
        'evt.placement.recommended',
      )
    })

    it("prices the spot simulation from its feed's quote at the ceiling percentile", async () => {
      const res = await call('POST', '/v1/placement/recommend', operator.authorization, {
        yaml: web,
        environment: 'staging',
      })
      const container = res.body.candidates.find((c: { provider: string }) => c.provider === 'sim-container')
      // 730 h × 1 × (0.5 vCPU × 0.012 + 0.5 GiB × 0.0015): the list prices (0.02, 0.0025) at 60%.
      expect(container.monthlyCost).toBe(4.93)
      expect(container.terms[0].detail).toContain('spot p90')
      expect(container.terms[2]).toMatchObject({ name: 'preemption-risk', rating: 0.94 })
    })

    it('gate: pci-dss never lands on containers; hipaa goes where volumes are encrypted', async () => {
      const pci = await call('POST', '/v1/placement/recommend', operator.authorization, {
        yaml: yaml('platform: {preference: auto, constraints: {compliance: [pci-dss]}}'),
        environment: 'production',
      })
      expect(pci.body).toMatchObject({ provider: 'sim-vm', kind: 'vm' })
      const refused = await call('POST', '/v1/placement/recommend', operator.authorization, {
        yaml: yaml('platform: {preference: container, constraints: {compliance: [pci-dss]}}'),
        environment: 'production',
      })
      expect(refused.status).toBe(422)
      expect(refused.body.detail).toMatch(/No provider can run shop/)
      const hipaa = await call('POST', '/v1/placement/recommend', operator.authorization, {
        yaml: yaml('platform: {preference: auto, constraints: {compliance: [hipaa]}}'),
        environment: 'production',
      })
      expect(hipaa.body).toMatchObject({ provider: 'sim-vm', target: { encryptionAtRest: true } })
    })

    it('answers an invalid manifest 422 with the path and line of each problem', async () => {
      const res = await call('POST', '/v1/placement/recommend', operator.authorization, {
        yaml: web.replace('protocol: http', 'protocol: carrier-pigeon'),
        environment: 'staging',
      })
      expect(res.status).toBe(422)
      expect(res.body.errors[0]).toMatchObject({ path: '/spec/ports/0/protocol', line: 6 })
    })

    it('recommends a manifest it stored by its digest; an unknown digest is 404', async () => {
      const loaded = loadManifest(web)
      if (!loaded.ok) throw new Error('valid')
      const res = await call('POST', '/v1/placement/recommend', operator.authorization, {
        manifestDigest: manifestDigest(loaded.manifest),
        envId,
      })
      expect(res.body).toMatchObject({ provider: 'sim-container' })
      const unknown = await call('POST', '/v1/placement/recommend', operator.authorization, {
        manifestDigest: `sha256:${'0'.repeat(64)}`,
        envId,
      })
      expect(unknown.status).toBe(404)
      // Another organisation has not stored it, and does not see the environment.
      const theirs = await call('POST', '/v1/placement/recommend', other.authorization, {
        manifestDigest: manifestDigest(loaded.manifest),
        environment: 'staging',
      })
      expect(theirs.status).toBe(404)
      expect(
        (await call('POST', '/v1/placement/recommend', other.authorization, { yaml: web, envId })).status,
      ).toBe(404)
    })

    it('answers the command from its handler, reusing the decision until an input changes', async () => {
      const first = await send(web)
      expect(first.recommended).toMatchObject({ provider: 'sim-container', envId })
      const again = await send(web)
      expect(again.recommended).toMatchObject({ reused: true, decisionId: first.recommended?.decisionId })
      // Another manifest: weighed again.
      const bigger = await send(web.replace('image:', 'replicas: 2\n  image:'))
      expect(bigger.recommended?.reused).toBe(false)
      // The same manifest for another environment's name (its own spec.environments apply): weighed again.
      const named = async (environment: string) =>
        (await call('POST', '/v1/placement/recommend', operator.authorization, { yaml: web, environment }))
          .body as { decisionId: string }
      const staging = await named('staging')
      expect((await named('staging')).decisionId).toBe(staging.decisionId)
      expect((await named('production')).decisionId).not.toBe(staging.decisionId)
      // Other overrides: weighed again.
      const scaled = await send(web, JSON.stringify({ replicas: 3 }))
      expect(scaled.recommended?.reused).toBe(false)
      expect(scaled.recommended?.decisionId).not.toBe(first.recommended?.decisionId)
      // The provider set changes: weighed again.
      expect(
        (await call('PATCH', '/v1/providers/sim-container', operator.authorization, { enabled: false }))
          .status,
      ).toBe(200)
      try {
        await until(
          async () => (await send(web)).recommended?.provider === 'sim-vm',
          10_000,
          'the disable heard',
        )
      } finally {
        await call('PATCH', '/v1/providers/sim-container', operator.authorization, { enabled: true })
      }
      await until(
        async () => (await send(web)).recommended?.provider === 'sim-container',
        10_000,
        'the enable heard',
      )
    })

    it("fails, retryable, while the environment's overrides are unknown; invalid ones are not", async () => {
      const unknown = await send(web, null, 'env-never-heard-of')
      expect(unknown.failed).toMatchObject({
        retryable: true,
        reason: expect.stringContaining('has not heard of'),
      })
      const broken = await send(web, '{"replicas": "three"}')
      expect(broken.failed).toMatchObject({ retryable: false })
    })

    it('follows an operator pin, shows it in explain, and fails a pin to a provider that cannot run the workload', async () => {
      const pinned = await call('PUT', `/v1/placement/pins/${envId}`, operator.authorization, {
        provider: 'sim-vm',
        reason: 'container maintenance',
      })
      expect(pinned.status).toBe(200)
      const { recommended } = await send(web)
      expect(recommended).toMatchObject({
        provider: 'sim-vm',
        pinned: { reason: 'container maintenance' },
        reused: false,
      })
      const explained = await call('GET', `/v1/placement/explain/${envId}`, operator.authorization)
      expect(explained.body).toMatchObject({
        decisionId: recommended?.decisionId,
        provider: 'sim-vm',
        pin: { provider: 'sim-vm', reason: 'container maintenance' },
      })
      // sim-vm does not autoscale: it cannot run this manifest, pinned or not.
      const scaling = await send(
        web.replace('image:', 'autoscaling: {minReplicas: 1, maxReplicas: 3}\n  image:'),
      )
      expect(scaling.failed?.reason).toMatch(
        /pinned to sim-vm .*which cannot run it: sim-vm does not autoscale/,
      )
      expect(events.some((e) => e.type === 'evt.placement.pinned')).toBe(true)
      // Only operators pin; another organisation's environment does not exist for it.
      const tenantOnly = await signUp(runtime, 'dev2@other.example')
      expect((await call('DELETE', `/v1/placement/pins/${envId}`, tenantOnly.authorization)).status).toBe(404)
      expect((await call('DELETE', `/v1/placement/pins/${envId}`, operator.authorization)).status).toBe(200)
      expect((await send(web)).recommended?.provider).toBe('sim-container')
    })

    it("gate: explain gives human-readable reasoning for every candidate; another tenant's env is 404", async () => {
      await send(web)
      const res = await call('GET', `/v1/placement/explain/${envId}`, operator.authorization)
      expect(res.status).toBe(200)
      expect(res.body.reasoning).toMatch(/stateless: containers preferred/)
      for (const c of res.body.candidates) {
        for (const f of c.filters) expect(f.reason).toMatch(/\w+ \w+/)
        for (const t of c.terms) expect(t.detail).toMatch(/\w+ \w+/)
      }
      expect((await call('GET', `/v1/placement/explain/${envId}`, other.authorization)).status).toBe(404)
    })
  })
}
