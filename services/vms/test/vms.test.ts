import type { Envelope, SddcVmMigrate, UsageSample } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import {
  type ContextDb,
  type ContextDeps,
  defineContext,
  loadMigrations,
  type Runtime,
  systemClock,
} from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vms } from '../src/index.ts'
import { createVms, type Vms } from '../src/service.ts'

const spec = { cpu: 2, memoryMiB: 4096, diskGiB: 40, guestOs: 'ubuntu64Guest' }
const minutes = (n: number) => n * 60_000

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`vms on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let driver: ContextDeps<unknown>
    let db: ContextDb
    let direct: Vms
    let alice: { authorization: string; orgId: string }
    let bob: { authorization: string; orgId: string }
    const heard: Envelope[] = []

    const call = async (method: string, url: string, authorization: string, payload?: object) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization },
        ...(payload === undefined ? {} : { payload }),
      })
      return {
        status: res.statusCode,
        headers: res.headers,
        text: res.body,
        body: res.body === '' ? undefined : res.json(),
      }
    }
    const get = async (url: string, who = alice) => {
      const res = await call('GET', url, who.authorization)
      expect(res.status, res.text).toBe(200)
      return res.body
    }
    /** Publishes as the SDDC Flex adapter would, in the organisation. */
    const publish = async (type: string, tenantId: string, data: object, key?: string) =>
      driver.db.transaction((tx) => driver.bus.publish(tx, { type, tenantId, data, ...(key ? { key } : {}) }))
    const historyLength = async (vmId: string, who = alice) => {
      const res = await call('GET', `/v1/vms/${vmId}/history`, who.authorization)
      return res.status === 200 ? (res.body.items as unknown[]).length : 0
    }
    const sample = (vmId: string, envId: string, endMinute: number, values: Partial<UsageSample>) => ({
      envId,
      platform: 'sddc-flex',
      windowStart: new Date(Date.UTC(2026, 0, 1, 10, endMinute - 5)).toISOString(),
      windowEnd: new Date(Date.UTC(2026, 0, 1, 10, endMinute)).toISOString(),
      cpu: 2,
      ram: 4096,
      storage: 40,
      egressBytes: 0,
      vmId,
      ...values,
    })

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
              'cmd.sddc.vm.migrate',
              'evt.vm.created',
              'evt.vm.started',
              'evt.vm.alert.fired',
              'evt.vm.alert.resolved',
            ],
            handle: async (m) => void heard.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({ contexts: [identity, vms, harness], database: handle.database })
      alice = await signUp(runtime, 'alice@a.example')
      bob = await signUp(runtime, 'bob@b.example')
      db = await handle.database.openContext(
        'vms',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
        {
          kitMigrations: await loadMigrations(
            new URL('../../../packages/kit/src/migrations/context/', import.meta.url),
          ),
        },
      )
      direct = createVms({
        db,
        bus: driver.bus,
        clock: systemClock,
        config: { VMS_MIGRATION_TIMEOUT_SECONDS: 3_600, VMS_SAMPLE_RETENTION_DAYS: 35 },
      })

      // Alice's vm-100: created, named by the adapter, started with an address.
      await publish(
        'evt.vm.created',
        alice.orgId,
        { vmId: 'vm-100', tenantId: alice.orgId, nodeId: 'host-1', envId: 'env-a', spec, tags: ['tier/web'] },
        'vm-100',
      )
      await publish(
        'evt.sddc.vm.created',
        alice.orgId,
        { envId: 'env-a', deploymentId: 'dep-a', vmId: 'vm-100', vAppId: 'vapp-a', name: 'web-1' },
        'vm-100',
      )
      await publish(
        'evt.vm.started',
        alice.orgId,
        {
          vmId: 'vm-100',
          nodeId: 'host-1',
          startTime: new Date(Date.now() + minutes(1)).toISOString(),
          ipAddresses: ['10.0.0.5'],
        },
        'vm-100',
      )
      await until(async () => (await historyLength('vm-100')) === 3, 20_000, "vm-100's history")
    }, 120_000)
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('lists and details a VM folded from its lifecycle events', async () => {
      const vm = await get('/v1/vms/vm-100')
      expect(vm).toMatchObject({
        vmId: 'vm-100',
        name: 'web-1',
        envId: 'env-a',
        deploymentId: 'dep-a',
        host: 'host-1',
        powerState: 'on',
        spec,
        ipAddresses: ['10.0.0.5'],
        tags: ['tier/web'],
        stoppedAt: null,
        lastMigration: null,
      })
      expect(vm.createdAt).not.toBeNull()
      expect(Date.parse(vm.startedAt)).toBeGreaterThan(Date.parse(vm.createdAt))
      const history = await get('/v1/vms/vm-100/history')
      expect(history.items.map((e: { type: string }) => e.type)).toEqual([
        'evt.vm.created',
        'evt.sddc.vm.created',
        'evt.vm.started',
      ])
      const listed = await get('/v1/vms')
      expect(listed.items.map((v: { vmId: string }) => v.vmId)).toContain('vm-100')
    })

    it('keeps each message once: a redelivered event appends nothing and changes nothing', async () => {
      const before = await get('/v1/vms/vm-100')
      const delivered = heard.filter((m) => m.type === 'evt.vm.created' || m.type === 'evt.vm.started')
      expect(delivered.filter((m) => m.tenantId === alice.orgId).length).toBeGreaterThanOrEqual(2)
      for (const message of delivered.filter((m) => m.tenantId === alice.orgId))
        await db.transaction((tx) => direct.record(tx, alice.orgId, message as never))
      expect(await historyLength('vm-100')).toBe(3)
      expect(await get('/v1/vms/vm-100')).toEqual(before)
    })

    it('appends nothing when an operator replays the consumer from the start', async () => {
      const before = await get('/v1/vms/vm-100')
      const replay = await call('POST', '/v1/admin/consumers/vms.history/replay', alice.authorization, {
        fromSeq: 1,
      })
      expect(replay.status, replay.text).toBe(202)
      // A message of the same key published after the rewind is handled after every replayed one of it.
      const marker = await publish(
        'evt.sddc.vm.created',
        alice.orgId,
        { envId: 'env-a', deploymentId: 'dep-a', vmId: 'vm-100', vAppId: 'vapp-a', name: 'web-1' },
        'vm-100',
      )
      await until(
        async () =>
          (await get('/v1/vms/vm-100/history')).items.some(
            (e: { messageId: string }) => e.messageId === marker.id,
          ),
        20_000,
        'the marker after the replay',
      )
      const history = (await get('/v1/vms/vm-100/history')).items as { messageId: string }[]
      // The bus did hand the three earlier messages to the handler again (its inbox, replay generation)…
      const { rows } = await db.query<{ message_id: string }>(
        "SELECT message_id FROM rxt_inbox WHERE consumer = 'vms.history' AND generation > 0",
      )
      expect(history.map((e) => e.messageId).every((id) => rows.some((r) => r.message_id === id))).toBe(true)
      // …and the history kept each once.
      expect(history).toHaveLength(4)
      expect(new Set(history.map((e) => e.messageId)).size).toBe(4)
      const after = await get('/v1/vms/vm-100')
      expect({ ...after, lastEventAt: before.lastEventAt }).toEqual(before)
    })

    it('folds a started delivered before its created as if they came in order', async () => {
      const createdAt = Date.now()
      await publish(
        'evt.vm.started',
        alice.orgId,
        { vmId: 'vm-200', nodeId: 'host-7', startTime: new Date(createdAt + minutes(5)).toISOString() },
        'vm-200',
      )
      await until(async () => (await historyLength('vm-200')) === 1, 20_000, "vm-200's started")
      expect(await get('/v1/vms/vm-200')).toMatchObject({ powerState: 'on', spec: null, createdAt: null })
      await publish(
        'evt.vm.created',
        alice.orgId,
        { vmId: 'vm-200', tenantId: alice.orgId, nodeId: 'host-7', envId: 'env-b', spec },
        'vm-200',
      )
      await until(async () => (await historyLength('vm-200')) === 2, 20_000, "vm-200's created")
      const vm = await get('/v1/vms/vm-200')
      expect(vm).toMatchObject({ powerState: 'on', host: 'host-7', envId: 'env-b', spec })
      expect(Date.parse(vm.createdAt)).toBeLessThan(Date.parse(vm.startedAt))
      const history = await get('/v1/vms/vm-200/history')
      expect(history.items.map((e: { type: string }) => e.type)).toEqual(['evt.vm.created', 'evt.vm.started'])
    })

    it('filters and pages the list by id', async () => {
      const first = await get('/v1/vms?limit=1')
      expect(first.items.map((v: { vmId: string }) => v.vmId)).toEqual(['vm-100'])
      expect(first.next).toBe('vm-100')
      const second = await get(`/v1/vms?limit=1&cursor=${first.next}`)
      expect(second.items.map((v: { vmId: string }) => v.vmId)).toEqual(['vm-200'])
      expect((await get('/v1/vms?envId=env-b')).items.map((v: { vmId: string }) => v.vmId)).toEqual([
        'vm-200',
      ])
      expect((await get('/v1/vms?host=host-1')).items.map((v: { vmId: string }) => v.vmId)).toEqual([
        'vm-100',
      ])
      expect((await get('/v1/vms?powerState=off')).items).toEqual([])
      const bad = await call('GET', '/v1/vms?powerState=sleeping', alice.authorization)
      expect(bad.status).toBe(400)
      expect(bad.headers['content-type']).toContain('application/problem+json')
    })

    it('fires a powered-off alert for a stop RXT Deploy did not cause, and resolves it on start', async () => {
      const rule = await call('POST', '/v1/monitoring/alert-rules', alice.authorization, {
        name: 'unexpected power-off',
        kind: 'powered-off',
      })
      expect(rule.status, rule.text).toBe(201)
      await publish(
        'evt.vm.stopped',
        alice.orgId,
        {
          vmId: 'vm-200',
          stopTime: new Date(Date.now() + minutes(10)).toISOString(),
          reason: 'host failure',
        },
        'vm-200',
      )
      await until(async () => (await historyLength('vm-200')) === 3, 20_000, "vm-200's stop")
      const firing = await get('/v1/monitoring/alerts?state=firing')
      expect(firing.items).toMatchObject([
        { ruleId: rule.body.id, kind: 'powered-off', vmId: 'vm-200', state: 'firing', resolvedAt: null },
      ])
      expect(firing.items[0].detail).toContain('host failure')
      const alertId = firing.items[0].id
      await until(() => heard.some((m) => m.type === 'evt.vm.alert.fired'), 20_000, 'evt.vm.alert.fired')
      expect(heard.filter((m) => m.type === 'evt.vm.alert.fired')).toMatchObject([
        {
          tenantId: alice.orgId,
          data: {
            alertId,
            ruleId: rule.body.id,
            ruleName: 'unexpected power-off',
            kind: 'powered-off',
            vmId: 'vm-200',
            firstSeen: firing.items[0].firstSeen,
            observedPercent: null,
          },
        },
      ])
      const restartedAt = new Date(Date.now() + minutes(15)).toISOString()
      await publish(
        'evt.vm.started',
        alice.orgId,
        { vmId: 'vm-200', nodeId: 'host-7', startTime: restartedAt },
        'vm-200',
      )
      await until(async () => (await historyLength('vm-200')) === 4, 20_000, "vm-200's restart")
      const resolved = await get('/v1/monitoring/alerts?vmId=vm-200')
      expect(resolved.items).toMatchObject([{ state: 'resolved', resolvedAt: restartedAt }])
      await until(
        () => heard.some((m) => m.type === 'evt.vm.alert.resolved'),
        20_000,
        'evt.vm.alert.resolved',
      )
      expect(heard.find((m) => m.type === 'evt.vm.alert.resolved')?.data).toEqual({
        alertId,
        ruleId: rule.body.id,
        vmId: 'vm-200',
        firstSeen: firing.items[0].firstSeen,
        resolvedAt: restartedAt,
      })
      // A scale-down is RXT Deploy's own doing: no alert.
      await publish(
        'evt.vm.stopped',
        alice.orgId,
        { vmId: 'vm-200', stopTime: new Date(Date.now() + minutes(20)).toISOString(), reason: 'scaled down' },
        'vm-200',
      )
      await until(async () => (await historyLength('vm-200')) === 5, 20_000, "vm-200's scale-down")
      expect((await get('/v1/monitoring/alerts?state=firing')).items).toEqual([])
      const deleted = await call('DELETE', `/v1/monitoring/alert-rules/${rule.body.id}`, alice.authorization)
      expect(deleted.status).toBe(204)
      expect((await get('/v1/monitoring/alert-rules')).items).toEqual([])
    })

    it('answers metric series rolled up per step, and fires a threshold alert', async () => {
      const rule = await call('POST', '/v1/monitoring/alert-rules', alice.authorization, {
        name: 'cpu hot',
        kind: 'threshold',
        metric: 'cpu',
        above: 90,
        forSeconds: 600,
      })
      expect(rule.status, rule.text).toBe(201)
      const values: [number, Partial<UsageSample>][] = [
        [5, { cpuPercent: 95, memoryPercent: 40, networkRxBytes: 1000 }],
        [10, { cpuPercent: 96, memoryPercent: 50, networkRxBytes: 2000 }],
        [15, { cpuPercent: 97, memoryPercent: 60, networkRxBytes: 3000 }],
      ]
      for (const [end, v] of values)
        await publish('evt.usage.sample', alice.orgId, sample('vm-100', 'env-a', end, v))
      // An environment's sample (no vmId) is not a VM's.
      const { vmId: _none, ...environmentSample } = sample('vm-100', 'env-a', 20, { cpuPercent: 99 })
      await publish('evt.usage.sample', alice.orgId, environmentSample)
      const url = '/v1/vms/vm-100/metrics?from=2026-01-01T10:00:00Z&to=2026-01-01T10:30:00Z&step=10m'
      await until(
        async () =>
          (await get(url)).series
            .find((s: { name: string }) => s.name === 'cpu')
            .points.reduce((n: number, p: { samples: number }) => n + p.samples, 0) === 3,
        20_000,
        'the samples',
      )
      const metrics = await get(url)
      expect(metrics).toMatchObject({ vmId: 'vm-100', stepSeconds: 600 })
      const series = (name: string) => metrics.series.find((s: { name: string }) => s.name === name)
      // Windows ending 10:05 fall in the 10:00 bucket; those ending 10:10 and 10:15 in the 10:10 one.
      expect(series('cpu')).toEqual({
        name: 'cpu',
        unit: 'percent',
        points: [
          { at: '2026-01-01T10:00:00.000Z', avg: 95, max: 95, sum: 95, samples: 1 },
          { at: '2026-01-01T10:10:00.000Z', avg: 96.5, max: 97, sum: 193, samples: 2 },
        ],
      })
      expect(series('memory').points.map((p: { avg: number }) => p.avg)).toEqual([40, 55])
      expect(series('networkRxBytes').points.map((p: { sum: number }) => p.sum)).toEqual([1000, 5000])
      expect(series('disk').points).toEqual([])
      await until(
        async () => (await get('/v1/monitoring/alerts?state=firing')).items.length === 1,
        20_000,
        'the cpu alert',
      )
      expect((await get('/v1/monitoring/alerts?state=firing')).items).toMatchObject([
        // Two five-minute samples above 90 (10:00–10:10) are the ten minutes: it fired at the second.
        { ruleId: rule.body.id, vmId: 'vm-100', firstSeen: '2026-01-01T10:10:00.000Z', value: 96 },
      ])
      // Back under the level: resolved at the sample that said so.
      await publish('evt.usage.sample', alice.orgId, sample('vm-100', 'env-a', 20, { cpuPercent: 30 }))
      await until(
        async () => (await get('/v1/monitoring/alerts?state=firing')).items.length === 0,
        20_000,
        'the cpu alert to resolve',
      )
      expect((await get('/v1/monitoring/alerts?vmId=vm-100')).items).toMatchObject([
        { state: 'resolved', resolvedAt: '2026-01-01T10:20:00.000Z' },
      ])
    })

    it.each([
      ['from=2026-01-01T11:00:00Z&to=2026-01-01T10:00:00Z', 'must be before'],
      ['from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'at most 31'],
      ['from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&step=10s', 'between 60'],
      ['from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&step=1m', 'at most 1500'],
      ['to=2026-01-01T00:00:00Z', 'from'],
    ])('refuses a metrics range %s with a problem saying %s', async (query, words) => {
      const res = await call('GET', `/v1/vms/vm-100/metrics?${query}`, alice.authorization)
      expect(res.status).toBe(400)
      expect(res.headers['content-type']).toContain('application/problem+json')
      expect(res.body.detail).toContain(words)
    })

    it('refuses an alert rule missing its level, or one a powered-off rule does not take', async () => {
      const threshold = await call('POST', '/v1/monitoring/alert-rules', alice.authorization, {
        name: 'half',
        kind: 'threshold',
        metric: 'memory',
      })
      expect(threshold.status).toBe(400)
      expect(threshold.text).toContain('/body/above')
      const power = await call('POST', '/v1/monitoring/alert-rules', alice.authorization, {
        name: 'odd',
        kind: 'powered-off',
        above: 10,
      })
      expect(power.status).toBe(400)
      expect(power.text).toContain('/body/above')
      expect((await get('/v1/monitoring/alert-rules')).items.map((r: { name: string }) => r.name)).toEqual([
        'cpu hot',
      ])
    })

    it('migrates a VM: 202, the command to the adapter, completed when the VM runs on the new host', async () => {
      const same = await call('POST', '/v1/vms/vm-100/migrate', alice.authorization, { toHost: 'host-1' })
      expect(same.status).toBe(400)
      const asked = await call('POST', '/v1/vms/vm-100/migrate', alice.authorization, { toHost: 'host-2' })
      expect(asked.status, asked.text).toBe(202)
      expect(asked.body).toMatchObject({
        vmId: 'vm-100',
        fromHost: 'host-1',
        toHost: 'host-2',
        status: 'requested',
      })
      expect(asked.headers.location).toBe(`/v1/vms/vm-100/migrations/${asked.body.id}`)
      await until(() => heard.some((m) => m.type === 'cmd.sddc.vm.migrate'), 20_000, 'cmd.sddc.vm.migrate')
      const command = heard.find((m) => m.type === 'cmd.sddc.vm.migrate') as Envelope<SddcVmMigrate>
      expect(command.tenantId).toBe(alice.orgId)
      expect(command.data).toEqual({ vmId: 'vm-100', toHost: 'host-2', requestId: asked.body.id })
      const twice = await call('POST', '/v1/vms/vm-100/migrate', alice.authorization, { toHost: 'host-3' })
      expect(twice.status).toBe(409)
      expect(twice.body.detail).toContain(asked.body.id)

      await publish(
        'evt.vm.migrated',
        alice.orgId,
        {
          vmId: 'vm-100',
          fromNode: 'host-1',
          toNode: 'host-2',
          startTime: new Date(Date.now() + minutes(2)).toISOString(),
          completedTime: new Date(Date.now() + minutes(3)).toISOString(),
        },
        'vm-100',
      )
      const status = `/v1/vms/vm-100/migrations/${asked.body.id}`
      await until(async () => (await get(status)).status === 'completed', 20_000, 'the migration')
      expect(await get('/v1/vms/vm-100')).toMatchObject({
        host: 'host-2',
        lastMigration: { fromHost: 'host-1', toHost: 'host-2' },
      })
    })

    it('fails a migration the adapter answers evt.sddc.vm.migrate.failed', async () => {
      const asked = await call('POST', '/v1/vms/vm-100/migrate', alice.authorization, { toHost: 'host-3' })
      expect(asked.status, asked.text).toBe(202)
      await publish('evt.sddc.vm.migrate.failed', alice.orgId, {
        vmId: 'vm-100',
        toHost: 'host-3',
        requestId: asked.body.id,
        reason: 'host-3 is in maintenance mode',
        retryable: true,
      })
      const status = `/v1/vms/vm-100/migrations/${asked.body.id}`
      await until(async () => (await get(status)).status === 'failed', 20_000, 'the failure')
      expect(await get(status)).toMatchObject({
        reason: 'host-3 is in maintenance mode',
        retryable: true,
        toHost: 'host-3',
      })
      expect((await get('/v1/vms/vm-100')).host).toBe('host-2')
    })

    it('fails a migration no answer comes to within VMS_MIGRATION_TIMEOUT_SECONDS, and no other', async () => {
      const asked = await call('POST', '/v1/vms/vm-200/migrate', alice.authorization, { toHost: 'host-8' })
      expect(asked.status, asked.text).toBe(202)
      const status = `/v1/vms/vm-200/migrations/${asked.body.id}`
      // Within the timeout: nothing expires (the completed and failed ones of vm-100 stay as they were).
      expect(await direct.expireMigrations(new Date(Date.now() + minutes(59)))).toBe(0)
      expect((await get(status)).status).toBe('requested')
      expect(await direct.expireMigrations(new Date(Date.now() + minutes(61)))).toBe(1)
      expect(await get(status)).toMatchObject({ status: 'failed', retryable: true })
      expect((await get(status)).reason).toContain('VMS_MIGRATION_TIMEOUT_SECONDS')
      const again = await call('POST', '/v1/vms/vm-200/migrate', alice.authorization, { toHost: 'host-8' })
      expect(again.status, again.text).toBe(202)
      expect(await direct.expireMigrations(new Date(Date.now() + minutes(61)))).toBe(1)
    })

    it("keeps one organisation's VMs from another, even under the same VM id", async () => {
      await publish(
        'evt.vm.created',
        bob.orgId,
        { vmId: 'vm-100', tenantId: bob.orgId, nodeId: 'host-b', envId: null, spec: { ...spec, cpu: 8 } },
        'vm-100',
      )
      await until(async () => (await historyLength('vm-100', bob)) === 1, 20_000, "bob's vm-100")
      expect(await get('/v1/vms/vm-100', bob)).toMatchObject({
        host: 'host-b',
        spec: { cpu: 8 },
        powerState: 'off',
      })
      expect((await get('/v1/vms', bob)).items.map((v: { vmId: string }) => v.vmId)).toEqual(['vm-100'])
      expect((await call('GET', '/v1/vms/vm-200', bob.authorization)).status).toBe(404)
      expect((await call('GET', '/v1/vms/vm-200/history', bob.authorization)).status).toBe(404)
      expect((await get('/v1/monitoring/alerts', bob)).items).toEqual([])
      expect((await get('/v1/monitoring/alert-rules', bob)).items).toEqual([])
      expect((await get('/v1/vms/vm-100', alice)).host).toBe('host-2')
    })

    it('rebuilds the read model from the history: the same rows as the live one', async () => {
      const live = {
        alice: await direct.projectionRows(alice.orgId),
        bob: await direct.projectionRows(bob.orgId),
      }
      expect(live.alice.map((r) => r.vm_id)).toEqual(['vm-100', 'vm-200'])
      await db.query('TRUNCATE vms')
      expect((await get('/v1/vms')).items).toEqual([])
      expect(await direct.rebuildAll()).toEqual({ tenants: 2, vms: 3 })
      expect(await direct.projectionRows(alice.orgId)).toEqual(live.alice)
      expect(await direct.projectionRows(bob.orgId)).toEqual(live.bob)
      // The operators' route does the same.
      const rebuilt = await call('POST', '/v1/admin/vms/rebuild', alice.authorization)
      expect(rebuilt.status, rebuilt.text).toBe(200)
      expect(await direct.projectionRows(alice.orgId)).toEqual(live.alice)
      expect((await call('POST', '/v1/admin/vms/rebuild', bob.authorization)).status).toBe(403)
    })

    it('deletes samples past VMS_SAMPLE_RETENTION_DAYS, and no younger one', async () => {
      const url = '/v1/vms/vm-100/metrics?from=2026-01-01T10:00:00Z&to=2026-01-01T10:30:00Z&step=10m'
      const count = async () =>
        (await get(url)).series
          .find((s: { name: string }) => s.name === 'cpu')
          .points.reduce((n: number, p: { samples: number }) => n + p.samples, 0)
      expect(await count()).toBe(4)
      // 35 days after 10:04:59 the oldest (ending 10:05) is not yet past the retention.
      expect(await direct.purgeSamples(new Date(Date.UTC(2026, 1, 5, 10, 4, 59)))).toBe(0)
      expect(await count()).toBe(4)
      // Those ending 10:05, 10:10 and 10:15 are past it 35 days after 10:16; the one ending 10:20 is not.
      expect(await direct.purgeSamples(new Date(Date.UTC(2026, 1, 5, 10, 16)))).toBe(3)
      expect(await count()).toBe(1)
    })

    it("refuses to change a VM's history", async () => {
      await expect(
        db.withTenant(alice.orgId, (tx) => tx.query("DELETE FROM vm_events WHERE vm_id = 'vm-100'")),
      ).rejects.toThrow()
      expect(await historyLength('vm-100')).toBe(5)
    })
  })
}
