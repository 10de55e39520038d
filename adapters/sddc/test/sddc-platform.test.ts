// The SDDC Flex adapter through the provider conformance suite: vCenter is vcsim (tools/peers), NSX the
// project's simulation of its Policy API (ADR 0029), certificates from Vault's PKI (the Vault peer);
// answers kept on PGlite and PostgreSQL.
import { randomBytes } from 'node:crypto'
import { type Database, loadMigrations, systemClock } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { describeComputePlatformConformance } from '@rxt/platform-sdk/conformance'
import { inject } from 'vitest'
import { vcsimInventory } from '../../../tools/peers/servers.ts'
import { createNsxNetworking, createVaultPkiIssuer } from '../src/networking.ts'
import { createNsxClient } from '../src/nsx/index.ts'
import { type NsxSimulator, startNsxSimulator } from '../src/nsx-sim/nsx-simulator.ts'
import { createSddcPlatform, type SddcSettings } from '../src/sddc-platform.ts'
import { createVimClient } from '../src/vim/client.ts'
import { retrieve } from '../src/vim/collector.ts'
import { ref } from '../src/vim/xml.ts'
import { preparePki } from './pki.ts'

const skipped = inject('vcsimSkipReason') || inject('vaultSkipReason') || undefined
const migrations = () => loadMigrations(new URL('../migrations/', import.meta.url))
const openSddc = async (database: Database) => database.openContext('sddc', await migrations())

const testSettings: SddcSettings = {
  datacenter: vcsimInventory.datacenter,
  cluster: vcsimInventory.clusters[0] as string,
  datastore: vcsimInventory.datastore,
  template: vcsimInventory.template,
  switch: vcsimInventory.switch,
  folder: `rxt-${randomBytes(3).toString('hex')}`,
  baseDomain: 'sddc.example',
  taskTimeoutMs: 60_000,
  segmentGateway: '10.64.0.1/24',
}

for (const target of dbTargets()) {
  let handle: TestDatabase
  let nsx: NsxSimulator
  const account = { username: 'admin', password: `pw-${randomBytes(8).toString('hex')}` }
  const vim = () =>
    createVimClient({
      url: inject('vcsimUrl'),
      username: inject('vcsimUsername'),
      password: inject('vcsimPassword'),
      ca: inject('vcsimCa'),
    })
  describeComputePlatformConformance({
    name: `sddc-flex on vcsim with the NSX simulation, answers kept on ${target.name}`,
    ...((skipped ?? target.skipped) === undefined ? {} : { skipped: skipped ?? target.skipped }),
    setup: async () => {
      handle = await target.create()
      nsx = await startNsxSimulator(account)
      const nsxClient = createNsxClient({ url: nsx.url, credentials: account })
      const pki = await preparePki(inject('vaultAddr'), inject('vaultToken'))
      const client = vim()
      const platform = createSddcPlatform(
        { db: await openSddc(handle.database), clock: systemClock },
        {
          client,
          settings: { ...testSettings, folder: `${testSettings.folder}-${target.name}` },
          networking: createNsxNetworking({
            client: nsxClient,
            tier0Path: '/infra/tier-0s/sim-t0',
            segmentGateway: testSettings.segmentGateway,
            vipRange: '10.96.0.0/16',
            issuer: createVaultPkiIssuer({ addr: inject('vaultAddr'), token: inject('vaultToken'), ...pki }),
          }),
        },
      )
      return {
        platform,
        teardown: async () => {
          await client.close()
          await nsxClient.close()
          await nsx.close()
          await handle.dispose()
        },
      }
    },
    // Read from vCenter with another session, and from the NSX simulation's own store.
    leftovers: async (envId, resources) => {
      const admin = vim()
      let left = 0
      for (const r of resources.filter((r) => !r.kind.startsWith('Nsx')))
        left += (await retrieve(admin, r.kind, [ref(r.kind, r.id)], ['name'])).length
      await admin.close()
      left += nsx.objects().filter((o) => JSON.stringify(o.tags ?? []).includes(`"${envId}"`)).length
      return left
    },
    readyTimeoutMs: 60_000,
  })
}
