import { randomBytes } from 'node:crypto'
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DeploymentOutcome,
  DestroyOutcome,
  EnvironmentOutcome,
  EnvironmentStatus,
  FailureCode,
  type IComputePlatform,
  NetworkOutcome,
  type Outcome,
  type PlatformFailure,
  type ResourceRef,
  ScaleOutcome,
} from './compute-platform.ts'
import { conformanceRequests } from './fixtures.ts'

export interface ConformanceOptions {
  /** Names the suite: the adapter and what it runs against. */
  readonly name: string
  /** The adapter under test, ready to use; `teardown` runs after the suite. */
  readonly setup: () => Promise<{ platform: IComputePlatform; teardown?: () => Promise<void> }>
  /**
   * What the platform still holds of an environment, read from the platform itself, given every
   * resource the run's outcomes named (must be 0 after destroy).
   */
  readonly leftovers: (envId: string, resources: readonly ResourceRef[]) => Promise<number>
  /** How long an environment may take to become ready, or to be destroyed (default 60 s). */
  readonly readyTimeoutMs?: number
  /** Skips the suite with this reason (a missing peer); under CI=true the caller fails instead. */
  readonly skipped?: string
}

const successOf = <T>(outcome: Outcome<T>): T => {
  if (!outcome.ok)
    throw new Error(`expected success, got ${outcome.failure.code}: ${outcome.failure.message}`)
  return outcome.value
}
const retryable: readonly string[] = [FailureCode.unavailable, FailureCode.timeout]
/** The failure of an outcome, checked: a known code, `retryable` as the code says, a message. */
const failureOf = (outcome: Outcome<unknown>): PlatformFailure => {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`)
  const f = outcome.failure
  expect(Object.values(FailureCode)).toContain(f.code)
  expect(f.retryable).toBe(retryable.includes(f.code))
  expect(typeof f.message === 'string' && f.message.length > 0).toBe(true)
  return f
}
const conforms = (schema: TSchema, value: unknown) => {
  const errors = [...Value.Errors(schema, value)]
  expect(errors.map((e) => `${e.instancePath} ${e.message}`)).toEqual([])
}

/**
 * The provider conformance suite: every adapter runs it in its own tests, against what it drives (a
 * simulation, a real Kubernetes API server, vcsim). One environment goes through provision, deploy,
 * update, scale, network with TLS, health and status, and destroy; every call is made twice to prove
 * idempotency; destroy must leave nothing behind; invalid requests fail with typed errors.
 */
export function describeComputePlatformConformance(options: ConformanceOptions): void {
  describe.skipIf(options.skipped !== undefined)(`compute platform conformance: ${options.name}`, () => {
    const run = randomBytes(4).toString('hex')
    const r = conformanceRequests(run)
    const readyTimeoutMs = options.readyTimeoutMs ?? 60_000
    /** A step that waits on the platform may take that long, and some more for its calls. */
    const waits = { timeout: readyTimeoutMs + 30_000 }
    let platform: IComputePlatform
    let teardown: (() => Promise<void>) | undefined

    /** Every resource an outcome named: destroy must leave none of them. */
    const named: ResourceRef[] = []
    const note = <T extends { resources: readonly ResourceRef[] }>(value: T): T => {
      named.push(...value.resources)
      return value
    }
    const statusOf = async () => successOf(await platform.getStatus(r.envId))
    const until = async (what: string, test: (s: Awaited<ReturnType<typeof statusOf>>) => boolean) => {
      const end = Date.now() + readyTimeoutMs
      for (;;) {
        const status = await statusOf()
        if (test(status)) return status
        if (Date.now() > end)
          throw new Error(`${what} within ${readyTimeoutMs} ms; last status ${JSON.stringify(status)}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }

    beforeAll(async () => {
      ;({ platform, teardown } = await options.setup())
    }, 120_000)
    afterAll(async () => {
      // A failed run still removes its environment.
      await platform?.destroyEnvironment({ key: `cleanup-${run}`, envId: r.envId })
      await teardown?.()
    }, readyTimeoutMs + 60_000)

    it('says what it is', () => {
      expect(platform.name).toMatch(/^[a-z0-9-]+$/)
      expect(['k8s', 'vm']).toContain(platform.kind)
    })

    it('knows nothing of an environment before it is provisioned', async () => {
      expect(successOf(await platform.getStatus(r.envId)).phase).toBe('absent')
      const deploy = failureOf(await platform.deployApplication(r.deploy))
      expect(deploy).toMatchObject({ code: FailureCode.notFound, retryable: false })
      expect(successOf(await platform.getStatus(r.envId)).phase).toBe('absent')
    })

    it('refuses invalid requests with typed, non-retryable failures, and changes nothing', async () => {
      const invalid: Outcome<unknown>[] = [
        await platform.provisionEnvironment({ ...r.provision, name: 'Not A Label' }),
        await platform.provisionEnvironment({
          ...r.provision,
          quota: { cpu: -1, memoryMiB: 1, storageGiB: 0 },
        }),
        await platform.deployApplication({ ...r.deploy, replicas: -1 }),
        await platform.deployApplication({ ...r.deploy, image: '' }),
        await platform.configureNetwork({ ...r.network, hostnames: ['not a host'] }),
        await platform.scaleResources({ ...r.scale, replicas: 1.5 }),
        await platform.destroyEnvironment({ key: '', envId: r.envId }),
        // biome-ignore lint/suspicious/noExplicitAny: a request that is not one at all
        await platform.provisionEnvironment(null as any),
      ]
      for (const outcome of invalid) {
        const f = failureOf(outcome)
        expect(f).toMatchObject({ code: FailureCode.invalid, retryable: false })
        expect(f.message.length).toBeGreaterThan(0)
      }
      expect(successOf(await platform.getStatus(r.envId)).phase).toBe('absent')
    })

    it('provisions once per key, and once per environment, also when asked at once', waits, async () => {
      // Concurrent requests for one environment, under one key and under others.
      const racing = await Promise.all([
        platform.provisionEnvironment(r.provision),
        platform.provisionEnvironment(r.provision),
        platform.provisionEnvironment({ ...r.provision, key: `${r.provision.key}-racing-1` }),
        platform.provisionEnvironment({ ...r.provision, key: `${r.provision.key}-racing-2` }),
      ])
      const ids = racing.map((o) => successOf(o).platformId)
      expect(new Set(ids).size).toBe(1)
      const first = note(successOf(await platform.provisionEnvironment(r.provision)))
      conforms(EnvironmentOutcome, first)
      expect(first.envId).toBe(r.envId)
      expect(successOf(await platform.provisionEnvironment(r.provision))).toEqual(first)
      // The same environment under a new key: the same resources, no duplicates.
      const again = successOf(
        await platform.provisionEnvironment({ ...r.provision, key: `${r.provision.key}-again` }),
      )
      expect(again.platformId).toBe(first.platformId)
      expect(new Set(again.resources.map((x) => `${x.kind}/${x.id}`))).toEqual(
        new Set(first.resources.map((x) => `${x.kind}/${x.id}`)),
      )
      // The same key for another request is a conflict, not a second environment.
      const reused = failureOf(
        await platform.provisionEnvironment({ ...r.provision, quota: { ...r.provision.quota, cpu: 8 } }),
      )
      expect(reused).toMatchObject({ code: FailureCode.conflict, retryable: false })
      expect(successOf(await platform.getStatus(r.envId)).phase).toBe('provisioned')
    })

    it('deploys, and becomes ready and healthy', waits, async () => {
      const concurrent = await Promise.all([1, 2, 3].map(() => platform.deployApplication(r.deploy)))
      const deployed = note(successOf(await platform.deployApplication(r.deploy)))
      for (const outcome of concurrent) expect(successOf(outcome)).toEqual(deployed)
      conforms(DeploymentOutcome, deployed)
      expect(deployed).toMatchObject({ envId: r.envId, revision: 1, image: r.deploy.image, replicas: 2 })
      expect(deployed.endpoints.map((e) => e.port)).toEqual([8080])
      expect(successOf(await platform.deployApplication(r.deploy))).toEqual(deployed)
      const status = await until('ready', (s) => s.phase === 'ready')
      conforms(EnvironmentStatus, status)
      expect(status).toMatchObject({ revision: 1, image: r.deploy.image, healthy: true })
      expect(status.replicas).toEqual({ desired: 2, ready: 2 })
      expect(await statusOf()).toEqual(status)
    })

    it('refuses invalid requests to a running environment, and changes nothing there', async () => {
      const before = await statusOf()
      const invalid: Outcome<unknown>[] = [
        await platform.deployApplication({ ...r.deploy, key: `invalid-deploy-${run}`, replicas: -1 }),
        await platform.deployApplication({ ...r.deploy, key: `invalid-image-${run}`, image: 'Not An Image' }),
        await platform.scaleResources({ ...r.scale, key: `invalid-scale-${run}`, replicas: 1001 }),
        await platform.configureNetwork({ ...r.network, key: `invalid-network-${run}`, port: 0 }),
      ]
      for (const outcome of invalid) expect(failureOf(outcome)).toMatchObject({ code: FailureCode.invalid })
      expect(await statusOf()).toEqual(before)
    })

    it('updates to a new revision, and not again for the same key', waits, async () => {
      const first = successOf(await platform.deployApplication(r.deploy))
      const updated = note(successOf(await platform.deployApplication(r.update)))
      expect(updated).toMatchObject({ revision: 2, image: r.update.image })
      expect(successOf(await platform.deployApplication(r.update))).toEqual(updated)
      // A late retry of the first deploy answers what it answered then, and rolls nothing back.
      expect(successOf(await platform.deployApplication(r.deploy))).toEqual(first)
      const status = await until('ready at revision 2', (s) => s.phase === 'ready' && s.revision === 2)
      expect(status.image).toBe(r.update.image)
    })

    it('scales, once per key', waits, async () => {
      const scaled = successOf(await platform.scaleResources(r.scale))
      named.push(...(await statusOf()).resources)
      conforms(ScaleOutcome, scaled)
      expect(scaled).toEqual({ envId: r.envId, replicas: 3, autoscaling: r.scale.autoscaling })
      expect(successOf(await platform.scaleResources(r.scale))).toEqual(scaled)
      const status = await until('3 ready replicas', (s) => s.replicas.ready === 3)
      expect(status.replicas.desired).toBe(3)
    })

    it('routes its hostnames with TLS, once per key', waits, async () => {
      const network = note(successOf(await platform.configureNetwork(r.network)))
      conforms(NetworkOutcome, network)
      expect(network.urls).toEqual(r.network.hostnames.map((h) => `https://${h}/`))
      expect(network.tls).not.toBeNull()
      expect(Date.parse(network.tls?.expiresAt ?? '')).toBeGreaterThan(Date.now())
      expect(successOf(await platform.configureNetwork(r.network))).toEqual(network)
      const status = await statusOf()
      expect(status.urls).toEqual(network.urls)
    })

    it('destroys, leaving nothing behind, once per key', waits, async () => {
      const destroyed = successOf(await platform.destroyEnvironment(r.destroy))
      conforms(DestroyOutcome, destroyed)
      expect(destroyed).toEqual({ envId: r.envId, existed: true })
      expect(successOf(await platform.destroyEnvironment(r.destroy))).toEqual(destroyed)
      expect(
        successOf(await platform.destroyEnvironment({ key: `${r.destroy.key}-again`, envId: r.envId })),
      ).toEqual({
        envId: r.envId,
        existed: false,
      })
      await until('absent', (s) => s.phase === 'absent')
      expect(named.length).toBeGreaterThan(0)
      expect(await options.leftovers(r.envId, named)).toBe(0)
      expect(successOf(await platform.getStatus(r.envId)).resources).toEqual([])
      expect(failureOf(await platform.scaleResources({ ...r.scale, key: `scale-after-${run}` })).code).toBe(
        FailureCode.notFound,
      )
    })
  })
}
