// The deploy saga on vcsim (tools/peers) with SDDC Flex: cmd.deploy.apply of a workload that prefers VMs
// through every step (the router places it on sddc-flex, the adapter provisions its folder, pool and
// port group, clones and powers on its VMs, and networks it on the NSX simulation with a certificate
// from Vault's PKI) to a ready deployment, its VMs powered on in the environment's folder and listed by
// the vms context. Then a VM powered off in vCenter directly (govc) is evt.vm.stopped and off in
// GET /v1/vms/:vmId within 5 s, one moved by govc to another host evt.vm.migrated, and a migration asked
// of the API (POST /v1/vms/:vmId/migrate) moves it in vCenter and completes.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { sddc, sddcProviderFile } from '@rxt/adapter-sddc'
import type { Envelope } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { deploymentIdOf, orchestrator } from '@rxt/orchestrator'
import { placement } from '@rxt/placement'
import { policy } from '@rxt/policy'
import { router } from '@rxt/router'
import { secrets } from '@rxt/secrets'
import { vms } from '@rxt/vms'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { type NsxSimulator, startNsxSimulator } from '../../adapters/sddc/src/nsx-sim/nsx-simulator.ts'
import { preparePki } from '../../adapters/sddc/test/pki.ts'
import { vcsimInventory } from '../../tools/peers/servers.ts'

const skipped = inject('vcsimSkipReason') !== '' || inject('vaultSkipReason') !== ''

const manifestOf = (host: string) => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 2
  platform: {preference: vm}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [${host}], tls: required}
`)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

describe.skipIf(skipped)('the deploy saga on vcsim with SDDC Flex', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let nsx: NsxSimulator
  let driver: ContextDeps<unknown>
  let owner: { authorization: string; orgId: string }
  const events: Envelope[] = []
  const run = randomBytes(3).toString('hex')
  const folder = `rxt-e2e-${run}`
  const govc = (...args: string[]) =>
    execFileSync(inject('govcPath'), args, {
      encoding: 'utf8',
      env: {
        ...process.env,
        GOVC_URL: inject('vcsimUrl'),
        GOVC_USERNAME: inject('vcsimUsername'),
        GOVC_PASSWORD: inject('vcsimPassword'),
        GOVC_TLS_CA_CERTS: inject('vcsimCaFile'),
        GOVC_DATACENTER: vcsimInventory.datacenter,
      },
    })

  beforeAll(async () => {
    handle = await (dbTargets()[0] as ReturnType<typeof dbTargets>[number]).create()
    const account = { username: 'admin', password: `pw-${randomBytes(8).toString('hex')}` }
    nsx = await startNsxSimulator(account)
    const pki = await preparePki(inject('vaultAddr'), inject('vaultToken'))
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        {
          id: 'watch',
          types: [
            'evt.deploy.ready',
            'evt.deploy.failed',
            'evt.sddc.vm.created',
            'evt.sddc.nsx.configured',
            'evt.vm.created',
            'evt.vm.started',
            'evt.vm.stopped',
            'evt.vm.migrated',
          ],
          handle: async (m) => void events.push(m),
        },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, sddc, router, placement, policy, secrets, orchestrator, vms, harness],
      database: handle.database,
      env: {
        PROVIDER_FILES: sddcProviderFile,
        SECRETS_KEY: randomBytes(32).toString('base64url'),
        SDDC_URL: inject('vcsimUrl'),
        SDDC_USERNAME: inject('vcsimUsername'),
        SDDC_PASSWORD: inject('vcsimPassword'),
        SDDC_CA_FILE: inject('vcsimCaFile'),
        SDDC_DATACENTER: vcsimInventory.datacenter,
        SDDC_CLUSTER: vcsimInventory.clusters[0] as string,
        SDDC_DATASTORE: vcsimInventory.datastore,
        SDDC_SWITCH: vcsimInventory.switch,
        SDDC_FOLDER: folder,
        NSX_URL: nsx.url,
        NSX_USERNAME: account.username,
        NSX_PASSWORD: account.password,
        NSX_TIER0_PATH: '/infra/tier-0s/sim-t0',
        SDDC_TLS_VAULT_ADDR: inject('vaultAddr'),
        SDDC_TLS_VAULT_TOKEN: inject('vaultToken'),
        SDDC_TLS_VAULT_MOUNT: pki.mount,
        SDDC_TLS_VAULT_ROLE: pki.role,
      },
    })
    owner = await signUp(runtime, `owner-${run}@example.com`)
    await until(
      async () => {
        const items = (
          await runtime.app.inject({ url: '/v1/providers', headers: { authorization: owner.authorization } })
        ).json().items as { name: string; health: { healthy: boolean } }[]
        return items.length === 1 && items[0]?.name === 'sddc-flex' && items[0].health.healthy
      },
      60_000,
      'sddc-flex to report healthy',
    )
  }, 120_000)
  afterAll(async () => {
    await runtime?.stop()
    await nsx?.close()
    await handle?.dispose()
  }, 60_000)

  let vmIds: string[] = []
  it('deploys a workload that prefers VMs to ready on vcsim, its VMs powered on in its folder', async () => {
    const envId = `env-vm-${run}`
    const host = `shop-${run}.acme.example`
    const commitSha = randomBytes(20).toString('hex')
    const data = {
      envId,
      projectId: 'prj-shop',
      environment: 'production',
      commitSha,
      artifactRef: `ghcr.io/acme/shop:${commitSha.slice(0, 12)}`,
      overrides: '{}',
      ...manifestOf(host),
    }
    await driver.db.transaction((tx) =>
      driver.bus.publish(tx, { type: 'cmd.deploy.apply', tenantId: owner.orgId, key: envId, data }),
    )
    const id = deploymentIdOf({ ...data, tenantId: owner.orgId })
    let body: Record<string, unknown> = {}
    await until(
      async () => {
        const res = await runtime.app.inject({
          url: `/v1/deployments/${id}`,
          headers: { authorization: owner.authorization },
        })
        if (res.statusCode !== 200) return false
        body = res.json()
        return !['queued', 'running', 'compensating'].includes(body.status as string)
      },
      180_000,
      `deployment ${id} to settle`,
    )
    expect(body).toMatchObject({
      status: 'ready',
      provider: 'sddc-flex',
      urls: [`https://${host}`],
      failure: null,
    })
    // vCenter holds its VMs, powered on, in the environment's folder under the adapter's.
    const listed = govc('find', `/${vcsimInventory.datacenter}/vm/${folder}`, '-type', 'm').trim().split('\n')
    expect(listed).toHaveLength(2)
    for (const path of listed) expect(govc('vm.info', path)).toMatch(/Power state:\s+poweredOn/)
    const created = events.filter((e) => e.type === 'evt.sddc.vm.created')
    expect(created).toHaveLength(2)
    vmIds = created.map((e) => (e.data as { vmId: string }).vmId)
    expect(events.filter((e) => e.type === 'evt.sddc.nsx.configured')).toHaveLength(1)
    await until(
      async () =>
        vmIds.every((vmId) =>
          events.some((e) => e.type === 'evt.vm.started' && (e.data as { vmId: string }).vmId === vmId),
        ),
      10_000,
      'evt.vm.started of each VM',
    )
    for (const e of events.filter((e) => e.type === 'evt.vm.created')) expect(e.tenantId).toBe(owner.orgId)
  }, 240_000)

  const api = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const res = await runtime.app.inject({
      method,
      url,
      headers: { authorization: owner.authorization },
      ...(payload === undefined ? {} : { payload }),
    })
    return { status: res.statusCode, body: res.json() as Record<string, unknown> }
  }
  const hostOf = (path: string) => govc('vm.info', '-r', path).match(/Host:\s+(\S+)/)?.[1] as string
  const hostRef = (name: string) =>
    govc(
      'find',
      '-i',
      `/${vcsimInventory.datacenter}/host/${vcsimInventory.clusters[0]}`,
      '-type',
      'h',
      '-name',
      name,
    )
      .trim()
      .replace('HostSystem:', '')

  it('sees a VM powered off in vCenter directly within 5 s, in its events and its details', async () => {
    const [vmId] = vmIds
    expect(vmId).toBeDefined()
    await until(
      async () => ((await api('GET', '/v1/vms')).body.items as unknown[] | undefined)?.length === 2,
      10_000,
      'the vms context to list both VMs',
    )
    const byId = govc('find', '-i', `/${vcsimInventory.datacenter}/vm/${folder}`, '-type', 'm')
      .trim()
      .split('\n')
    const paths = govc('find', `/${vcsimInventory.datacenter}/vm/${folder}`, '-type', 'm').trim().split('\n')
    const target = paths[byId.findIndex((r) => r.endsWith(`:${vmId}`))] as string
    expect(target).toBeDefined()
    const started = Date.now()
    govc('vm.power', '-off', '-force', target)
    await until(
      async () =>
        events.some((e) => e.type === 'evt.vm.stopped' && (e.data as { vmId: string }).vmId === vmId),
      5_000,
      'evt.vm.stopped within 5 s',
    )
    await until(
      async () => (await api('GET', `/v1/vms/${vmId}`)).body.powerState === 'off',
      Math.max(500, 5_000 - (Date.now() - started)),
      'GET /v1/vms/:vmId off within 5 s',
    )
    expect(Date.now() - started).toBeLessThan(5_000)
    const stopped = events.find(
      (e) => e.type === 'evt.vm.stopped' && (e.data as { vmId: string }).vmId === vmId,
    ) as Envelope
    expect(stopped.data).toMatchObject({ vmId, reason: 'powered off in vCenter' })
    govc('vm.power', '-on', target)

    // A move made in vCenter (govc) is a migration too, whoever made it.
    const other = ['DC0_C0_H0', 'DC0_C0_H1', 'DC0_C0_H2'].find((h) => h !== hostOf(target)) as string
    govc(
      'vm.migrate',
      '-host',
      `/${vcsimInventory.datacenter}/host/${vcsimInventory.clusters[0]}/${other}`,
      target,
    )
    await until(
      async () =>
        events.some((e) => e.type === 'evt.vm.migrated' && (e.data as { vmId: string }).vmId === vmId),
      5_000,
      'evt.vm.migrated',
    )

    // A migration asked of the API: vCenter moves the VM, and the request completes.
    const next = ['DC0_C0_H0', 'DC0_C0_H1', 'DC0_C0_H2'].find((h) => h !== other) as string
    const asked = await api('POST', `/v1/vms/${vmId}/migrate`, { toHost: hostRef(next) })
    expect(asked.status).toBe(202)
    await until(
      async () =>
        (await api('GET', `/v1/vms/${vmId}/migrations/${asked.body.id}`)).body.status === 'completed',
      15_000,
      'the migration to complete',
    )
    expect(hostOf(target)).toBe(next)
    expect((await api('GET', `/v1/vms/${vmId}`)).body.host).toBe(hostRef(next))
  }, 60_000)
})
