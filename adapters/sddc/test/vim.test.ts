// The vim25 client against vcsim (tools/peers): sessions, the property collector, tasks, and each
// inventory operation the adapter uses.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { vcsimInventory } from '../../../tools/peers/servers.ts'
import { createVimClient, type VimClient, VimError } from '../src/vim/client.ts'
import { openWatch, retrieve, retrieveUnder } from '../src/vim/collector.ts'
import { createInventory, type Inventory } from '../src/vim/inventory.ts'
import { field, type Ref, text } from '../src/vim/xml.ts'

const skipped = inject('vcsimSkipReason') || undefined
const dc = vcsimInventory.datacenter

describe.skipIf(skipped !== undefined)('the vim25 client on vcsim', () => {
  const calls: string[] = []
  let client: VimClient
  let inventory: Inventory
  const run = randomBytes(3).toString('hex')
  const options = () => ({
    url: inject('vcsimUrl'),
    username: inject('vcsimUsername'),
    password: inject('vcsimPassword'),
    ca: inject('vcsimCa'),
  })

  beforeAll(() => {
    client = createVimClient({ ...options(), onCall: (method) => calls.push(method) })
    inventory = createInventory(client, { taskTimeoutMs: 30_000 })
  })
  afterAll(() => client?.close())

  it('logs in once, and refuses a wrong password without saying it', async () => {
    const { rootFolder } = await client.content()
    await retrieve(client, 'Folder', [rootFolder], ['name'])
    await retrieve(client, 'Folder', [rootFolder], ['name'])
    expect(calls.filter((c) => c === 'Login')).toHaveLength(1)
    const wrong = `${options().password}-wrong`
    const stranger = createVimClient({ ...options(), password: wrong })
    const refused = await retrieve(stranger, 'Folder', [rootFolder], ['name']).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(VimError)
    expect((refused as VimError).fault).toBe('InvalidLogin')
    expect(String((refused as Error).message)).not.toContain(wrong)
    await stranger.close()
  })

  it('trusts only the CA it is given', async () => {
    const untrusting = createVimClient({ ...options(), ca: undefined })
    const refused = await untrusting.content().catch((e: unknown) => e)
    expect(refused).toMatchObject({ kind: 'unavailable' })
    expect(String((refused as Error).message)).toMatch(/SELF_SIGNED|certificate/i)
    await untrusting.close()
  })

  it('logs in again when vCenter ends the session', async () => {
    const { sessionManager } = await client.content()
    await client.call('Logout', sessionManager)
    const before = calls.filter((c) => c === 'Login').length
    expect(await inventory.find(`${dc}/vm`)).toBeDefined()
    expect(calls.filter((c) => c === 'Login').length).toBe(before + 1)
  })

  it('answers unavailable when nothing listens', async () => {
    const gone = createVimClient({ ...options(), url: 'https://127.0.0.1:1/sdk', callTimeoutMs: 5_000 })
    await expect(gone.content()).rejects.toMatchObject({ kind: 'unavailable' })
    await gone.close()
  })

  it('finds by path, and makes folders, pools, port groups and custom attributes once', async () => {
    expect(await inventory.find(`${dc}/vm/no-such-${run}`)).toBeUndefined()
    const vmFolder = await inventory.require(`${dc}/vm`, 'VM folder')
    const folder = await inventory.folder(vmFolder, `f-${run}`)
    expect(await inventory.folder(vmFolder, `f-${run}`)).toEqual(folder)
    const clusterPool = await inventory.require(`${dc}/host/${vcsimInventory.clusters[0]}/Resources`, 'pool')
    const pool = await inventory.resourcePool(clusterPool, `p-${run}`, 1024)
    expect(await inventory.resourcePool(clusterPool, `p-${run}`, 1024)).toEqual(pool)
    const [limits] = await retrieve(client, 'ResourcePool', [pool], ['config.memoryAllocation.limit'])
    expect(text(limits?.props['config.memoryAllocation.limit'])).toBe('1024')
    const dvs = await inventory.require(`${dc}/network/${vcsimInventory.switch}`, 'switch')
    const pg = await inventory.portGroup(dvs, `pg-${run}`, `${dc}/network`)
    expect(await inventory.portGroup(dvs, `pg-${run}`, `${dc}/network`)).toEqual(pg)
    expect(pg.switchUuid).not.toBe('')
    const key = await inventory.customField(`rxt.test-${run}`)
    expect(await inventory.customField(`rxt.test-${run}`)).toBe(key)
    await inventory.setField(folder, key, 'a value')
    const [read] = await retrieve(client, 'Folder', [folder], ['customValue'])
    expect(read?.props.customValue).toEqual([
      { _type: 'CustomFieldStringValue', key: String(key), value: 'a value' },
    ])
    for (const made of [pg.ref, pool, folder]) {
      await inventory.destroy(made)
      await inventory.destroy(made)
    }
    expect(await inventory.find(`${dc}/vm/f-${run}`)).toBeUndefined()
  })

  it('clones the template configured and on the port group, sees its power change, migrates it, destroys it', async () => {
    const template = await inventory.require(`${dc}/vm/${vcsimInventory.template}`, 'template')
    const vmFolder = await inventory.require(`${dc}/vm`, 'VM folder')
    const clusterPool = await inventory.require(`${dc}/host/${vcsimInventory.clusters[0]}/Resources`, 'pool')
    const into = {
      folder: await inventory.folder(vmFolder, `c-${run}`),
      pool: await inventory.resourcePool(clusterPool, `c-${run}`, -1),
      datastore: await inventory.require(`${dc}/datastore/${vcsimInventory.datastore}`, 'datastore'),
    }
    const dvs = await inventory.require(`${dc}/network/${vcsimInventory.switch}`, 'switch')
    const portGroup = await inventory.portGroup(dvs, `c-${run}`, `${dc}/network`)
    const nic = await inventory.nicOf(template)
    expect(nic).toBeDefined()
    const vm = await inventory.clone(
      template,
      into,
      `vm-${run}`,
      {
        numCPUs: 2,
        memoryMB: 256,
        annotation: 'made by a test & <kept>',
        extraConfig: { 'guestinfo.rxt.image': 'registry.example/shop@sha256:00' },
        ...(nic === undefined ? {} : { network: { nic, portGroup } }),
      },
      true,
    )
    const [made] = await retrieve(
      client,
      'VirtualMachine',
      [vm],
      [
        'config.hardware.numCPU',
        'config.hardware.memoryMB',
        'config.annotation',
        'config.extraConfig',
        'runtime.powerState',
        'runtime.host',
        'network',
        'parent',
        'resourcePool',
      ],
    )
    expect(made?.props).toMatchObject({
      'config.hardware.numCPU': '2',
      'config.hardware.memoryMB': '256',
      'config.annotation': 'made by a test & <kept>',
      'runtime.powerState': 'poweredOn',
      network: [portGroup.ref],
      parent: into.folder,
      resourcePool: into.pool,
    })
    const extra = (made?.props['config.extraConfig'] as unknown[]).map((o) => [
      text(field(o as never, 'key')),
      text(field(o as never, 'value')),
    ])
    expect(extra).toContainEqual(['guestinfo.rxt.image', 'registry.example/shop@sha256:00'])
    // The same name again is vCenter's fault, through the task.
    await expect(inventory.clone(template, into, `vm-${run}`, {}, false)).rejects.toMatchObject({
      fault: 'DuplicateName',
    })

    // A power change made elsewhere reaches a watch on the VM.
    const watch = await openWatch(client, 'VirtualMachine', [vm], ['runtime.powerState'])
    const first = await watch.next(5)
    expect(first?.find((c) => c.name === 'runtime.powerState')?.val).toBe('poweredOn')
    const elsewhere = createInventory(createVimClient(options()), { taskTimeoutMs: 30_000 })
    await elsewhere.powerOff(vm)
    let seen: string | undefined
    for (let i = 0; i < 5 && seen !== 'poweredOff'; i++)
      seen = text((await watch.next(5))?.find((c) => c.name === 'runtime.powerState')?.val) || seen
    expect(seen).toBe('poweredOff')
    await watch.close()
    await inventory.powerOn(vm)
    await inventory.powerOn(vm)

    // A move to another host of the cluster, and back (vcsim has no MigrateVM_Task: RelocateVM_Task it is).
    const from = made?.props['runtime.host'] as Ref
    const hosts = await retrieveUnder(
      client,
      await inventory.require(`${dc}/host/${vcsimInventory.clusters[0]}`, 'cluster'),
      'HostSystem',
      ['name'],
    )
    const to = hosts.find((h) => h.ref.value !== from.value)?.ref as Ref
    await inventory.relocate(vm, { host: to })
    const [moved] = await retrieve(client, 'VirtualMachine', [vm], ['runtime.host'])
    expect(moved?.props['runtime.host']).toEqual(to)
    await inventory.relocate(vm, { host: from })
    const [back] = await retrieve(client, 'VirtualMachine', [vm], ['runtime.host'])
    expect(back?.props['runtime.host']).toEqual(from)

    await inventory.destroy(vm)
    await inventory.destroy(vm)
    expect(await retrieve(client, 'VirtualMachine', [vm], ['name'])).toEqual([])
    for (const made of [portGroup.ref, into.pool, into.folder]) await inventory.destroy(made)
  })
})
