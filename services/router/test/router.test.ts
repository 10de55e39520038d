import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sim, simProviderFiles } from '@rxt/adapter-sim'
import { spot } from '@rxt/adapter-spot'
import type { Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { router } from '../src/index.ts'

const manifest = (platform: string) => `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  platform: ${platform}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [shop.example.com]}
`

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`router on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let operator: string
    let tenant: string
    const call = async (method: string, url: string, authorization: string, payload?: object) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization },
        ...(payload === undefined ? {} : { payload }),
      })
      return { status: res.statusCode, body: res.json() }
    }
    const events: Envelope[] = []

    // Sees what the router tells of its providers.
    const harness = defineContext({
      name: 'harness',
      handlers: () => [
        { id: 'watch', types: ['evt.provider.changed'], handle: async (m) => void events.push(m) },
      ],
    })

    beforeAll(async () => {
      handle = await target.create()
      runtime = await startTestRuntime({
        extensions: spot.extensions,
        contexts: [identity, sim, router, harness],
        database: handle.database,
      })
      // The first account of an installation is its operator.
      operator = (await signUp(runtime, 'op@example.com')).authorization
      tenant = (await signUp(runtime, 'dev@example.com')).authorization
      // The simulations report their health as they start; until then no provider takes work.
      await until(
        async () =>
          (await call('GET', '/v1/providers', tenant)).body.items.every(
            (p: { health: { healthy: boolean } }) => p.health.healthy,
          ),
        10_000,
        'the simulations report healthy',
      )
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('loads the providers from their provider.yaml files and says which are simulations', async () => {
      const { status, body } = await call('GET', '/v1/providers', tenant)
      expect(status).toBe(200)
      expect(body.items.map((p: { name: string }) => p.name)).toEqual(['sim-container', 'sim-vm'])
      expect(body.items.every((p: { simulated: boolean }) => p.simulated)).toBe(true)
      const caps = await call('GET', '/v1/providers/sim-vm/capabilities', tenant)
      expect(caps.body).toMatchObject({ name: 'sim-vm', capabilities: { compute: 'vm' } })
      expect((await call('GET', '/v1/providers/nowhere/capabilities', tenant)).status).toBe(404)
    })

    it("knows each provider's health from its adapter's reports", async () => {
      const health = await call('GET', '/v1/providers/sim-vm/health', tenant)
      expect(health.body).toMatchObject({ healthy: true, message: expect.stringContaining('simulated') })
      expect(Date.parse(health.body.checkedAt)).toBeGreaterThan(Date.now() - 60_000)
    })

    it('tells of every provider it loaded at its start (evt.provider.changed), for placement', async () => {
      await until(() => events.length >= 2, 10_000, 'evt.provider.changed of each provider')
      const told = events.map((e) => e.data as { provider: string; enabled: boolean; manifest: string })
      expect(told.map((d) => d.provider).sort()).toEqual(['sim-container', 'sim-vm'])
      expect(JSON.parse(told[0]?.manifest ?? '{}')).toMatchObject({ kind: 'ComputeProvider' })
      expect(told.every((d) => d.enabled)).toBe(true)
    })

    it('answers an invalid manifest 422 with the path and line of each problem', async () => {
      const res = await call('POST', '/v1/deploy/translate', tenant, {
        yaml: manifest('{preference: container}').replace('protocol: http', 'protocol: carrier-pigeon'),
        environment: 'staging',
        provider: 'sim-container',
      })
      expect(res.status).toBe(422)
      expect(res.body.errors[0]).toMatchObject({ path: '/spec/ports/0/protocol', line: 7 })
    })

    it('translates one manifest for both platforms, creating nothing', async () => {
      const translate = (provider?: string) =>
        call('POST', '/v1/deploy/translate', tenant, {
          yaml: manifest('{preference: auto}'),
          environment: 'staging',
          ...(provider === undefined ? {} : { provider }),
        })
      const k8s = await translate('sim-container')
      expect(k8s.status).toBe(200)
      expect(k8s.body.objects.map((o: { kind: string }) => o.kind)).toEqual(
        expect.arrayContaining(['Namespace', 'Deployment', 'Service', 'Ingress', 'NetworkPolicy']),
      )
      const vm = await translate('sim-vm')
      expect(vm.body.objects.map((o: { kind: string }) => o.kind)).toEqual(
        expect.arrayContaining(['VirtualMachine', 'NsxLoadBalancer']),
      )
      expect(vm.body.simulated).toBe(true)
      // Unnamed: the router chooses none, and says where to ask.
      const unnamed = await translate()
      expect(unnamed.status).toBe(422)
      expect(unnamed.body.detail).toContain('POST /v1/placement/recommend')
      // What the SDK's calls cannot take is refused as the router would refuse to send it.
      const huge = await call('POST', '/v1/deploy/translate', tenant, {
        yaml: manifest('{preference: auto}').replace('  ports:', '  resources: {cpu: "300"}\n  ports:'),
        environment: 'staging',
        provider: 'sim-vm',
      })
      expect(huge.status).toBe(422)
      expect(huge.body.detail).toContain('/deploy/resources/cpu')
    })

    it('lets only operators disable a provider, at once and with no restart; a disabled one gets no new work', async () => {
      expect((await call('PATCH', '/v1/providers/sim-container', tenant, { enabled: false })).status).toBe(
        403,
      )
      const off = await call('PATCH', '/v1/providers/sim-container', operator, {
        enabled: false,
        note: 'maintenance',
      })
      expect(off.body).toMatchObject({ enabled: false, note: 'maintenance' })
      // Tenants no longer see it; operators do.
      const seen = await call('GET', '/v1/providers', tenant)
      expect(seen.body.items.map((p: { name: string }) => p.name)).toEqual(['sim-vm'])
      expect((await call('GET', '/v1/providers', operator)).body.items).toHaveLength(2)
      expect((await call('GET', '/v1/providers/sim-container/health', tenant)).status).toBe(404)
      // Placement hears of it at once.
      await until(
        () =>
          events.some(
            (e) =>
              (e.data as { provider: string; enabled: boolean; note: string | null }).note === 'maintenance',
          ),
        10_000,
        'evt.provider.changed of the disable',
      )
      const disabled = events.find((e) => (e.data as { note: string | null }).note === 'maintenance')
      expect(disabled?.data).toMatchObject({
        provider: 'sim-container',
        enabled: false,
        changedBy: expect.stringContaining('user:'),
      })
      // A tenant cannot preview on it any more.
      const preview = await call('POST', '/v1/deploy/translate', tenant, {
        yaml: manifest('{preference: container}'),
        environment: 'staging',
        provider: 'sim-container',
      })
      expect(preview.status).toBe(404)
      await call('PATCH', '/v1/providers/sim-container', operator, { enabled: true })
    })

    it('offers what the configured files say at the next start, and refuses to start on a broken file', async () => {
      await runtime.stop()
      runtime = await startTestRuntime({
        extensions: spot.extensions,
        contexts: [identity, sim, router, harness],
        database: handle.database,
        env: { PROVIDER_FILES: simProviderFiles[1] as string },
      })
      const listed = await call('GET', '/v1/providers', operator)
      expect(listed.body.items.map((p: { name: string }) => p.name)).toEqual(['sim-vm'])
      // Placement is told the one removed takes no work.
      await until(
        () => events.some((e) => (e.data as { note: string | null }).note?.startsWith('removed') === true),
        10_000,
        'evt.provider.changed of the removed provider',
      )
      expect(
        events.find((e) => (e.data as { note: string | null }).note?.startsWith('removed'))?.data,
      ).toMatchObject({
        provider: 'sim-container',
        enabled: false,
      })
      await runtime.stop()
      const dir = await mkdtemp(join(tmpdir(), 'rxt-providers-'))
      const broken = join(dir, 'broken.yaml')
      try {
        await writeFile(
          broken,
          (await import('node:fs'))
            .readFileSync(simProviderFiles[1] as string, 'utf8')
            .replace('compute: vm', 'compute: mainframe'),
        )
        await expect(
          startTestRuntime({
            extensions: spot.extensions,
            contexts: [identity, sim, router],
            database: handle.database,
            env: { PROVIDER_FILES: broken },
          }),
        ).rejects.toThrow(/broken\.yaml:\d+:\d+ \/spec\/capabilities\/compute/)
      } finally {
        await rm(dir, { recursive: true, force: true })
        runtime = await startTestRuntime({
          extensions: spot.extensions,
          contexts: [identity, sim, router],
          database: handle.database,
        })
      }
    })
  })
}
