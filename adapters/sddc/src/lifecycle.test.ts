import { describe, expect, it } from 'vitest'
import { lifecycleEvents, type VmRecord } from './lifecycle.ts'

const vm: VmRecord = {
  vmId: 'vm-42',
  tenantId: 'tnt-a',
  envId: 'env-a',
  host: 'host-1',
  powerState: 'poweredOn',
  spec: { cpu: 2, memoryMiB: 512, diskGiB: 10, guestOs: 'otherGuest' },
}
const now = new Date('2026-12-03T12:00:00Z')
const since = new Date('2026-12-03T11:00:00Z')
const types = (events: ReturnType<typeof lifecycleEvents>) => events.map((e) => e.type)

describe('VM lifecycle events', () => {
  it('a VM first seen on is created and started; first seen off, only created', () => {
    expect(types(lifecycleEvents(undefined, vm, { now, since: undefined }, undefined))).toEqual([
      'evt.vm.created',
      'evt.vm.started',
    ])
    expect(
      types(
        lifecycleEvents(undefined, { ...vm, powerState: 'poweredOff' }, { now, since: undefined }, undefined),
      ),
    ).toEqual(['evt.vm.created'])
  })

  it('nothing for a VM as it was', () => {
    expect(lifecycleEvents(vm, vm, { now, since }, undefined)).toEqual([])
  })

  it('a stop says why: the reason RXT Deploy gave, or that it happened in vCenter', () => {
    const off = { ...vm, powerState: 'poweredOff' as const }
    expect(lifecycleEvents(vm, off, { now, since }, undefined)).toEqual([
      {
        type: 'evt.vm.stopped',
        data: { vmId: 'vm-42', stopTime: now.toISOString(), reason: 'powered off in vCenter' },
      },
    ])
    expect(lifecycleEvents(vm, off, { now, since }, 'scaled down')[0]?.data.reason).toBe('scaled down')
    expect(
      lifecycleEvents(vm, { ...vm, powerState: 'suspended' }, { now, since }, undefined)[0]?.data.reason,
    ).toBe('suspended in vCenter')
    expect(types(lifecycleEvents(off, vm, { now, since }, undefined))).toEqual(['evt.vm.started'])
  })

  it('a new host is a migration from the old one, begun when it was last seen there', () => {
    expect(lifecycleEvents(vm, { ...vm, host: 'host-2' }, { now, since }, undefined)).toEqual([
      {
        type: 'evt.vm.migrated',
        data: {
          vmId: 'vm-42',
          fromNode: 'host-1',
          toNode: 'host-2',
          startTime: since.toISOString(),
          completedTime: now.toISOString(),
        },
      },
    ])
  })
})
