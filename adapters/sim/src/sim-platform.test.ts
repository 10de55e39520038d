import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ContextDb,
  createLogger,
  type Database,
  loadMigrations,
  openDatabase,
  systemClock,
} from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { conformanceRequests, FailureCode } from '@rxt/platform-sdk'
import { describeComputePlatformConformance } from '@rxt/platform-sdk/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSimPlatform, type SimFlavor, type SimPlatform } from './sim-platform.ts'

const migrations = () => loadMigrations(new URL('../migrations/', import.meta.url))
const openSim = async (database: Database) => database.openContext('sim', await migrations())

for (const target of dbTargets()) {
  for (const flavor of ['container', 'vm'] as SimFlavor[]) {
    let handle: TestDatabase
    let platform: SimPlatform
    describeComputePlatformConformance({
      name: `sim-${flavor} on ${target.name}`,
      ...(target.skipped === undefined ? {} : { skipped: target.skipped }),
      setup: async () => {
        handle = await target.create()
        // A rollout takes a moment, as on a real platform: status is progressing, then ready.
        platform = createSimPlatform(
          { db: await openSim(handle.database), clock: systemClock },
          { flavor, rolloutMs: 150 },
        )
        return { platform, teardown: () => handle.dispose() }
      },
      leftovers: (envId, resources) => platform.leftovers(envId, resources),
      readyTimeoutMs: 5_000,
    })
  }

  describe.skipIf(target.skipped !== undefined)(`the simulations on ${target.name}`, () => {
    let handle: TestDatabase
    let db: ContextDb
    beforeAll(async () => {
      handle = await target.create()
      db = await openSim(handle.database)
    })
    afterAll(() => handle?.dispose())

    it('say they are simulations wherever people look', async () => {
      const platform = createSimPlatform({ db, clock: systemClock }, { flavor: 'vm' })
      const r = conformanceRequests('label')
      expect(platform.name).toBe('sim-vm')
      expect((await platform.provisionEnvironment(r.provision)).ok).toBe(true)
      const deployed = await platform.deployApplication(r.deploy)
      expect(deployed.ok && deployed.value.endpoints[0]?.host).toMatch(/\.sim-vm\.invalid$/)
      const network = await platform.configureNetwork({ ...r.network, hostnames: [] })
      // The environment's platform name: its name, '-' and 8 hex of sha256('<tenant>/<env>').
      const hash = createHash('sha256').update(`${r.provision.tenantId}/${r.envId}`).digest('hex').slice(0, 8)
      expect(network.ok && network.value.urls).toEqual([
        `https://${r.provision.name}-${hash}.sim-vm.invalid/`,
      ])
      expect(network.ok && network.value.vip).toMatch(/^198\.51\.100\./)
      expect(network.ok && network.value.tls?.issuer).toContain('simulated')
      const status = await platform.getStatus(r.envId)
      expect(status.ok && status.value.message).toContain('simulated')
    })

    it('fail the Nth call, a named operation or a share of calls, as injected, and then recover', async () => {
      const platform = createSimPlatform(
        { db, clock: systemClock },
        { flavor: 'container', faults: { failCall: 2 } },
      )
      const r = conformanceRequests('faults')
      expect((await platform.provisionEnvironment(r.provision)).ok).toBe(true)
      const second = await platform.deployApplication(r.deploy)
      expect(second).toEqual({
        ok: false,
        failure: expect.objectContaining({
          code: FailureCode.unavailable,
          retryable: true,
          step: 'deployApplication',
        }),
      })
      // A failure is not the key's answer: the retry runs.
      const retried = await platform.deployApplication(r.deploy)
      expect(retried.ok && retried.value.revision).toBe(1)

      platform.inject({ failOperation: 'configureNetwork', code: FailureCode.rejected })
      const refused = await platform.configureNetwork(r.network)
      expect(refused).toMatchObject({ ok: false, failure: { code: 'rejected', retryable: false } })
      platform.inject(undefined)
      const networked = await platform.configureNetwork(r.network)
      expect(networked.ok).toBe(true)
      expect(await platform.configureNetwork(r.network)).toEqual(networked)

      let dice = 0
      const rolls = [0.1, 0.9, 0.1, 0.9]
      const flaky = createSimPlatform(
        { db, clock: systemClock },
        {
          flavor: 'container',
          faults: { failRate: 0.5 },
          random: () => rolls[dice++ % rolls.length] as number,
        },
      )
      const outcomes = await Promise.all([0, 1, 2, 3].map(() => flaky.getStatus(r.envId)))
      expect(outcomes.map((o) => o.ok)).toEqual([false, true, false, true])
    })

    it('forget the answers of old calls, and only those', async () => {
      const platform = createSimPlatform({ db, clock: systemClock }, { flavor: 'vm' })
      const r = conformanceRequests('forget')
      const first = await platform.provisionEnvironment(r.provision)
      expect(await platform.forget(new Date(Date.now() - 60_000))).toBe(0)
      expect(await platform.forget(new Date(Date.now() + 60_000))).toBeGreaterThan(0)
      // Forgotten: the key runs again, and provisioning stays once per environment.
      expect(await platform.provisionEnvironment(r.provision)).toEqual(first)
    })

    it('keep an environment to its tenant, under concurrent calls', async () => {
      const platform = createSimPlatform({ db, clock: systemClock }, { flavor: 'container' })
      const r = conformanceRequests('tenants')
      expect((await platform.provisionEnvironment(r.provision)).ok).toBe(true)
      const stolen = await platform.provisionEnvironment({
        ...r.provision,
        key: 'other',
        tenantId: 'tnt-other',
      })
      expect(stolen).toMatchObject({ ok: false, failure: { code: 'conflict' } })
      // Three tenants racing for one new environment: one gets it.
      const racing = await Promise.all(
        [1, 2, 3].map((i) =>
          platform.provisionEnvironment({
            ...r.provision,
            key: `race-${i}`,
            envId: 'env-race',
            tenantId: `tnt-race-${i}`,
          }),
        ),
      )
      expect(racing.filter((o) => o.ok)).toHaveLength(1)
      for (const o of racing.filter((x) => !x.ok)) expect(o).toMatchObject({ failure: { code: 'conflict' } })
    })

    it('report unhealthy while a standing fault is injected, not for a one-off one', async () => {
      const platform = createSimPlatform(
        { db, clock: systemClock },
        { flavor: 'vm', faults: { failCall: 1 } },
      )
      expect((await platform.probe()).ok).toBe(true)
      platform.inject({ failRate: 0.5 })
      expect((await platform.probe()).ok).toBe(false)
      platform.inject(undefined)
      expect((await platform.probe()).ok).toBe(true)
    })

    it('take the latency they are given', async () => {
      const slow = createSimPlatform(
        { db, clock: systemClock },
        { flavor: 'vm', latencyMs: { getStatus: 120 } },
      )
      const started = performance.now()
      await slow.getStatus('env-nowhere')
      expect(performance.now() - started).toBeGreaterThanOrEqual(100)
    })

    it('answer concurrent calls with one key once', async () => {
      const platform = createSimPlatform({ db, clock: systemClock }, { flavor: 'container' })
      const r = conformanceRequests('race')
      await platform.provisionEnvironment(r.provision)
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, () => platform.deployApplication(r.deploy)),
      )
      for (const outcome of outcomes) expect(outcome).toEqual(outcomes[0])
      expect(outcomes[0]?.ok && outcomes[0].value.revision).toBe(1)
    })
  })
}

describe('the simulations across a restart', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rxt-sim-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('keep their environments and their answers', async () => {
    const r = conformanceRequests('restart')
    const log = createLogger({ level: 'silent' })
    const first = await openDatabase({ kind: 'pglite', dataDir: dir }, log)
    const before = createSimPlatform({ db: await openSim(first), clock: systemClock }, { flavor: 'vm' })
    await before.provisionEnvironment(r.provision)
    const deployed = await before.deployApplication(r.deploy)
    await first.close()

    const second = await openDatabase({ kind: 'pglite', dataDir: dir }, log)
    try {
      const after = createSimPlatform({ db: await openSim(second), clock: systemClock }, { flavor: 'vm' })
      expect(await after.deployApplication(r.deploy)).toEqual(deployed)
      const status = await after.getStatus(r.envId)
      expect(status.ok && status.value).toMatchObject({ phase: 'ready', revision: 1, image: r.deploy.image })
    } finally {
      await second.close()
    }
  })
})

describe('the simulations against golden outcomes', () => {
  for (const flavor of ['container', 'vm'] as SimFlavor[]) {
    it(`sim-${flavor} answers the conformance requests as recorded`, async () => {
      const database = await openDatabase({ kind: 'pglite' }, createLogger({ level: 'silent' }))
      try {
        const platform = createSimPlatform({ db: await openSim(database), clock: systemClock }, { flavor })
        const r = conformanceRequests('golden')
        const outcomes = {
          provision: await platform.provisionEnvironment(r.provision),
          deploy: await platform.deployApplication(r.deploy),
          update: await platform.deployApplication(r.update),
          scale: await platform.scaleResources(r.scale),
          network: await platform.configureNetwork(r.network),
          status: await platform.getStatus(r.envId),
          destroy: await platform.destroyEnvironment(r.destroy),
          invalid: await platform.deployApplication({ ...r.deploy, key: 'invalid', replicas: -1 }),
        }
        // The certificate's expiry is the one value that moves with the clock.
        const stable = JSON.parse(
          JSON.stringify(outcomes).replace(/"expiresAt":"[^"]+"/g, '"expiresAt":"<90 days from now>"'),
        )
        await expect(`${JSON.stringify(stable, null, 2)}\n`).toMatchFileSnapshot(
          `./golden/sim-${flavor}.json`,
        )
      } finally {
        await database.close()
      }
    })
  }
})
