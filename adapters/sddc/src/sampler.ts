// VM metrics from vCenter's PerformanceManager: one QueryPerf for every VM the follower knows, over the
// last window, at the real-time interval (20 s), turned into one evt.usage.sample per VM (its
// allocation for metering, its utilisation for the vms context's metrics and alerts).
import type { VimClient } from './vim/client.ts'
import { retrieve } from './vim/collector.ts'
import { asList, type Decoded, field, ref, refOf, text } from './vim/xml.ts'

/** The counters sampled, as `group.name.rollup`, and what each is in (vCenter's units). */
export const sampledCounters = {
  cpu: 'cpu.usage.average', // hundredths of a percent of the VM's vCPUs
  memory: 'mem.usage.average', // hundredths of a percent of its memory
  diskRead: 'disk.read.average', // KB/s
  diskWrite: 'disk.write.average', // KB/s
  netRx: 'net.received.average', // KB/s
  netTx: 'net.transmitted.average', // KB/s
} as const

/** The ids of the sampled counters on this vCenter (ids differ between vCenters; names do not). */
export async function counterIds(client: VimClient): Promise<Record<keyof typeof sampledCounters, number>> {
  const { perfManager } = await client.content()
  const [manager] = await retrieve(client, 'PerformanceManager', [perfManager], ['perfCounter'])
  const byName = new Map<string, number>()
  for (const c of asList(manager?.props.perfCounter)) {
    const name = `${text(field(field(c, 'groupInfo'), 'key'))}.${text(field(field(c, 'nameInfo'), 'key'))}.${text(field(c, 'rollupType'))}`
    byName.set(name, Number(text(field(c, 'key'))))
  }
  const ids = {} as Record<keyof typeof sampledCounters, number>
  for (const [what, name] of Object.entries(sampledCounters) as [keyof typeof sampledCounters, string][]) {
    const id = byName.get(name)
    if (id === undefined) throw new Error(`vCenter has no performance counter ${name}`)
    ids[what] = id
  }
  return ids
}

export interface VmToSample {
  readonly vmId: string
  readonly envId: string
  readonly spec: { readonly cpu: number; readonly memoryMiB: number; readonly diskGiB: number }
}

/** One VM's evt.usage.sample data for a window. */
export type VmSample = Record<string, unknown> & { readonly envId: string; readonly vmId: string }

const mean = (values: readonly number[]) =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length
const clampPercent = (value: number) => Math.min(100, Math.max(0, Math.round(value * 100) / 100))

/** The samples of `vms` over [start, end): one QueryPerf call for all of them. */
export async function sampleVms(
  client: VimClient,
  ids: Record<keyof typeof sampledCounters, number>,
  vms: readonly VmToSample[],
  window: { readonly start: Date; readonly end: Date },
): Promise<VmSample[]> {
  if (vms.length === 0) return []
  const { perfManager } = await client.content()
  const counters = Object.entries(ids) as [keyof typeof sampledCounters, number][]
  const answer = await client.call('QueryPerf', perfManager, {
    querySpec: vms.map((vm) => ({
      entity: ref('VirtualMachine', vm.vmId),
      startTime: window.start,
      endTime: window.end,
      metricId: counters.map(([, counterId]) => ({ counterId, instance: '' })),
      intervalId: 20,
    })),
  })
  const seconds = (window.end.getTime() - window.start.getTime()) / 1000
  const byVm = new Map<string, Map<number, number[]>>()
  for (const entity of asList(answer)) {
    const vmId = refOf(field(entity, 'entity'))?.value
    if (vmId === undefined) continue
    const series = new Map<number, number[]>()
    for (const s of asList(field(entity, 'value') as Decoded | undefined))
      series.set(
        Number(text(field(field(s, 'id'), 'counterId'))),
        asList(field(s, 'value'))
          .map((v) => Number(text(v)))
          .filter((v) => Number.isFinite(v) && v >= 0),
      )
    byVm.set(vmId, series)
  }
  return vms.flatMap((vm) => {
    const series = byVm.get(vm.vmId)
    if (series === undefined) return []
    const average = (what: keyof typeof sampledCounters) => mean(series.get(ids[what]) ?? [])
    const bytes = (what: keyof typeof sampledCounters) => Math.round(average(what) * 1024 * seconds)
    return [
      {
        envId: vm.envId,
        platform: 'sddc-flex',
        windowStart: window.start.toISOString(),
        windowEnd: window.end.toISOString(),
        cpu: vm.spec.cpu,
        ram: vm.spec.memoryMiB,
        storage: vm.spec.diskGiB,
        egressBytes: bytes('netTx'),
        vmId: vm.vmId,
        cpuPercent: clampPercent(average('cpu') / 100),
        memoryPercent: clampPercent(average('memory') / 100),
        diskReadBytes: bytes('diskRead'),
        diskWriteBytes: bytes('diskWrite'),
        networkRxBytes: bytes('netRx'),
        networkTxBytes: bytes('netTx'),
      },
    ]
  })
}
