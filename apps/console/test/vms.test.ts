// The VMs pages in a real browser: an in-process runtime (identity, vms and the console) on PGlite, the
// VMs made by the events the SDDC Flex adapter publishes (evt.vm.created, evt.vm.started,
// evt.usage.sample with a vmId) on the runtime's bus, then the list, the details with their chart, a
// migration, and an alert rule created and deleted, driven in Chromium; each page checked with axe-core.
import type { Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { vms } from '@rxt/vms'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { consoleContext } from '../server/index.ts'
import { collectErrors, launchChromium, seriousViolations } from './browser.ts'

const chromiumPath = inject('chromiumPath')
// Without Chromium the run's setup prints SKIPPED with the reason (and fails the run under CI=true).
const skipped = chromiumPath === ''

const vmId = 'vm-1042'
const spec = { cpu: 2, memoryMiB: 4096, diskGiB: 40, guestOs: 'ubuntu64Guest' }
const minute = 60_000

describe.skipIf(skipped)('the VMs pages in a browser', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let driver: ContextDeps<unknown>
  let browser: Browser
  let url: string
  let owner: { authorization: string; orgId: string }
  const heard: Envelope[] = []

  /** Publishes as the SDDC Flex adapter would, in the organisation. */
  const publish = (type: string, data: object) =>
    driver.db.transaction((tx) => driver.bus.publish(tx, { type, tenantId: owner.orgId, key: vmId, data }))
  const get = async (path: string) => {
    const res = await runtime.app.inject({
      method: 'GET',
      url: path,
      headers: { authorization: owner.authorization },
    })
    return { status: res.statusCode, body: res.json() }
  }

  beforeAll(async () => {
    handle = await (dbTargets()[0] as ReturnType<typeof dbTargets>[number]).create()
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        { id: 'watch', types: ['cmd.sddc.vm.migrate'], handle: async (m) => void heard.push(m) },
      ],
    })
    ;[runtime, browser] = await Promise.all([
      startTestRuntime({
        contexts: [identity, vms, consoleContext, harness],
        database: handle.database,
        env: { RATE_LIMIT_PER_MINUTE: '100000' },
      }),
      launchChromium(chromiumPath),
    ])
    url = await runtime.listen()
    owner = await signUp(runtime, 'ops@example.com')

    // The adapter's view of one VM: created on host-17, powered on with an address, sampled each minute.
    const now = Date.now()
    await publish('evt.vm.created', {
      vmId,
      tenantId: owner.orgId,
      nodeId: 'host-17',
      envId: 'env_prod',
      spec,
      tags: ['tier/web'],
    })
    await publish('evt.vm.started', {
      vmId,
      nodeId: 'host-17',
      startTime: new Date().toISOString(),
      ipAddresses: ['10.0.0.5'],
    })
    for (let i = 1; i <= 10; i++) {
      const end = Math.floor(now / minute) * minute - (10 - i) * minute
      await publish('evt.usage.sample', {
        envId: 'env_prod',
        platform: 'sddc-flex',
        windowStart: new Date(end - minute).toISOString(),
        windowEnd: new Date(end).toISOString(),
        cpu: 2,
        ram: 4096,
        storage: 40,
        egressBytes: 1000 * i,
        vmId,
        cpuPercent: 10 + 5 * i,
        memoryPercent: 40,
        diskPercent: 55,
        diskReadBytes: 2000,
        diskWriteBytes: 3000,
        networkRxBytes: 5000 * i,
        networkTxBytes: 1000 * i,
      })
    }
    // The handlers have folded the VM and stored its samples.
    await until(
      async () => (await get(`/v1/vms/${vmId}`)).body.powerState === 'on',
      30_000,
      'the VM folded from its events',
    )
    const from = new Date(now - 60 * minute).toISOString()
    const to = new Date(now + minute).toISOString()
    await until(
      async () => {
        const metrics = await get(`/v1/vms/${vmId}/metrics?from=${from}&to=${to}&step=1m`)
        const series = metrics.body.series as { name: string; points: unknown[] }[] | undefined
        return series?.find((s) => s.name === 'cpu')?.points.length === 10
      },
      30_000,
      'the ten samples stored',
    )
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await runtime?.stop()
    await handle?.dispose()
  })

  it(
    'lists the VM, shows its host, history and chart, migrates it, and makes and deletes an alert rule',
    async () => {
      // axe is injected as a script: this context alone is let past the console's CSP.
      const context = await browser.newContext({ bypassCSP: true })
      const page = await context.newPage()
      page.setDefaultNavigationTimeout(120_000)
      const errors = collectErrors(page)
      const found: Record<string, string[]> = {}
      const settled = () => expect.poll(() => page.locator('.loading').count(), { timeout: 10_000 }).toBe(0)

      // Straight to the VMs: this runtime has no projects context for the landing page to call.
      await page.goto(`${url}/signin?next=%2Fvms`)
      await page
        .getByRole('heading', { name: 'Sign in' })
        .waitFor({ timeout: 30_000 })
        .catch(async (error) => {
          throw new Error(`${error}; url ${url}; page ${(await page.content()).slice(0, 600)}; ${errors}`)
        })
      await page.getByLabel('Email').fill('ops@example.com')
      await page.getByLabel('Password').fill('a long passphrase')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('heading', { name: 'VMs', level: 1 }).waitFor()

      // The list: the VM with its power state in words, its host and environment.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'VMs' }).click()
      await page.getByRole('heading', { name: 'VMs', level: 1 }).waitFor()
      const row = page.getByTestId('vms').locator('tbody tr').first()
      await row.waitFor({ timeout: 30_000 })
      expect(await row.textContent()).toMatch(/vm-1042.*powered on.*host-17.*env_prod.*2 vCPU, 4096 MiB/)
      await settled()
      found['/vms'] = await seriousViolations(page)
      // A filter the VM does not meet empties the list; one it meets shows it again.
      await page.getByLabel('Power state').selectOption('off')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.getByText('No VMs match').waitFor()
      await page.getByLabel('Power state').selectOption('on')
      await page.getByLabel('Host').fill('host-17')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.getByTestId('vms').getByRole('link', { name: vmId }).click()

      // The details: host, addresses, tags, spec; the history; the chart of the last hour.
      await page.waitForURL(/\/vms\/vm-1042$/)
      const facts = page.getByTestId('vm-facts')
      await facts.waitFor({ timeout: 30_000 })
      const text = await facts.textContent()
      expect(text).toContain('host-17')
      expect(text).toContain('10.0.0.5')
      expect(text).toContain('tier/web')
      expect(text).toContain('2 vCPU, 4096 MiB memory, 40 GiB disk, ubuntu64Guest')
      expect(text).toContain('powered on')
      const history = page.getByTestId('vm-history')
      await history.waitFor()
      expect(await history.textContent()).toMatch(/evt\.vm\.created.*placed on host-17.*evt\.vm\.started/)
      const cpu = page.getByTestId('chart-cpu')
      await cpu.waitFor({ timeout: 30_000 })
      // The line is drawn through the ten samples, and the picture is named with what it shows.
      expect(
        ((await cpu.locator('path').getAttribute('d')) ?? '').split(/[ML]/).filter((s) => s.trim()).length,
      ).toBe(10)
      expect(await cpu.locator('svg').getAttribute('role')).toBe('img')
      expect(await cpu.locator('svg title').textContent()).toBe(
        'CPU, last hour: CPU: latest 60.0 %, average 37.5 %, peak 60.0 %',
      )
      expect(await page.getByTestId('chart-network').locator('path').count()).toBe(2)
      // Its table alternative holds each bucket.
      await cpu.getByText('CPU as a table').click()
      expect(await cpu.locator('tbody tr').count()).toBe(10)
      await page.getByLabel('Last day').check()
      await expect
        .poll(() => page.getByTestId('chart-cpu').locator('svg title').textContent(), { timeout: 10_000 })
        .toMatch(/^CPU, last day:/)
      await settled()
      found['/vms/vm-1042'] = await seriousViolations(page)

      // A migration asks first, then shows the request until the adapter's event completes it.
      await page.getByLabel('Target host').fill('host-21')
      await page.getByRole('button', { name: 'Migrate…' }).click()
      await page.getByRole('button', { name: 'Migrate to host-21' }).click()
      await page.getByRole('button', { name: `Migrate ${vmId} now` }).click()
      const migration = page.getByTestId('migration')
      await expect.poll(() => migration.textContent(), { timeout: 30_000 }).toContain('requested')
      await expect.poll(() => heard.length, { timeout: 30_000 }).toBe(1)
      expect(heard[0]?.data).toMatchObject({ vmId, toHost: 'host-21' })
      await publish('evt.vm.migrated', {
        vmId,
        fromNode: 'host-17',
        toNode: 'host-21',
        startTime: new Date(Date.now() - 5_000).toISOString(),
        completedTime: new Date().toISOString(),
      })
      await expect.poll(() => migration.textContent(), { timeout: 30_000 }).toContain('completed')

      // Alerts: a threshold rule made with the form, listed, then deleted once confirmed.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Alerts' }).click()
      await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor()
      await page.getByText('No rules yet').waitFor({ timeout: 30_000 })
      await page.getByLabel('Rule name').fill('cpu high')
      await page.getByLabel('Above (%)').fill('80')
      await page.getByLabel('For (minutes)').fill('5')
      await page.getByRole('button', { name: 'Create rule' }).click()
      const rules = page.getByTestId('alert-rules')
      await expect.poll(() => rules.textContent(), { timeout: 30_000 }).toContain('CPU above 80 % for 5 min')
      expect((await get('/v1/monitoring/alert-rules')).body.items).toMatchObject([
        { name: 'cpu high', kind: 'threshold', metric: 'cpu', above: 80, forSeconds: 300 },
      ])
      await settled()
      found['/alerts'] = await seriousViolations(page)
      await page.getByRole('button', { name: 'Delete cpu high', exact: true }).click()
      await page.getByRole('button', { name: 'Delete cpu high and its alerts' }).click()
      await page.getByText('No rules yet').waitFor({ timeout: 30_000 })
      expect((await get('/v1/monitoring/alert-rules')).body.items).toEqual([])

      expect(Object.entries(found).filter(([, v]) => v.length > 0)).toEqual([])
      expect(errors).toEqual([])
      await context.close()
    },
    4 * 60_000,
  )
})
