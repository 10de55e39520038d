// VM metrics from vcsim's PerformanceManager: the counters found by name, one QueryPerf for several VMs.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { vcsimInventory } from '../../../tools/peers/servers.ts'
import { counterIds, sampledCounters, sampleVms } from '../src/sampler.ts'
import { createVimClient, type VimClient } from '../src/vim/client.ts'
import { retrieveUnder } from '../src/vim/collector.ts'
import { createInventory } from '../src/vim/inventory.ts'

const skipped = inject('vcsimSkipReason') || undefined

describe.skipIf(skipped !== undefined)("VM metrics from vcsim's PerformanceManager", () => {
  let client: VimClient
  beforeAll(() => {
    client = createVimClient({
      url: inject('vcsimUrl'),
      username: inject('vcsimUsername'),
      password: inject('vcsimPassword'),
      ca: inject('vcsimCa'),
    })
  })
  afterAll(() => client?.close())

  it('finds each sampled counter by name, and samples several VMs in one call', async () => {
    const ids = await counterIds(client)
    expect(Object.keys(ids).sort()).toEqual(Object.keys(sampledCounters).sort())
    const inventory = createInventory(client, { taskTimeoutMs: 30_000 })
    const vms = (
      await retrieveUnder(
        client,
        await inventory.require(`${vcsimInventory.datacenter}/vm`, 'VM folder'),
        'VirtualMachine',
        ['config.template'],
      )
    ).filter((vm) => vm.props['config.template'] === 'false')
    expect(vms.length).toBeGreaterThan(0)
    let calls = 0
    const counting = {
      ...client,
      call: (...args: Parameters<VimClient['call']>) => {
        calls++
        return client.call(...args)
      },
    }
    const end = new Date()
    const start = new Date(end.getTime() - 60_000)
    const samples = await sampleVms(
      counting,
      ids,
      vms.map((vm) => ({
        vmId: vm.ref.value,
        envId: 'env-metrics',
        spec: { cpu: 2, memoryMiB: 512, diskGiB: 10 },
      })),
      { start, end },
    )
    expect(calls).toBe(1)
    expect(samples.map((s) => s.vmId).sort()).toEqual(vms.map((vm) => vm.ref.value).sort())
    for (const sample of samples) {
      expect(sample).toMatchObject({
        envId: 'env-metrics',
        platform: 'sddc-flex',
        windowStart: start.toISOString(),
        windowEnd: end.toISOString(),
        cpu: 2,
        ram: 512,
        storage: 10,
      })
      for (const percent of ['cpuPercent', 'memoryPercent'] as const) {
        expect(sample[percent]).toBeGreaterThanOrEqual(0)
        expect(sample[percent]).toBeLessThanOrEqual(100)
      }
      expect(sample.egressBytes).toBe(sample.networkTxBytes)
      expect(Number.isInteger(sample.diskReadBytes)).toBe(true)
    }
  })
})
