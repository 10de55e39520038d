// VM lifecycle events from what vCenter reports of a VM (seed 002): what changed between the last state
// the adapter recorded and the one vCenter reports now, whoever changed it (RXT Deploy, or a person in
// vCenter). Pure: the follower (follower.ts) reads and records, this decides.

/** What the adapter records of a VM between reports. */
export interface VmRecord {
  readonly vmId: string
  readonly tenantId: string
  readonly envId: string | null
  readonly host: string
  readonly powerState: 'poweredOn' | 'poweredOff' | 'suspended'
  readonly spec: {
    readonly cpu: number
    readonly memoryMiB: number
    readonly diskGiB: number
    readonly guestOs: string
  }
}

export type LifecycleEvent =
  | { readonly type: 'evt.vm.created'; readonly data: Record<string, unknown> }
  | { readonly type: 'evt.vm.started'; readonly data: Record<string, unknown> }
  | { readonly type: 'evt.vm.stopped'; readonly data: Record<string, unknown> }
  | { readonly type: 'evt.vm.migrated'; readonly data: Record<string, unknown> }

/**
 * The events between `before` (undefined: a VM not seen yet) and `now`. A VM first seen powered on is
 * created and started; a power change is started or stopped (the reason RXT Deploy gave, when it was
 * RXT Deploy's, else that it stopped in vCenter); a change of host is a migration, begun `since` (when
 * the VM was last seen on the old host: the property collector tells the change, not its start).
 */
export function lifecycleEvents(
  before: VmRecord | undefined,
  now: VmRecord,
  at: { readonly now: Date; readonly since: Date | undefined },
  stopReason: string | undefined,
): LifecycleEvent[] {
  const events: LifecycleEvent[] = []
  const time = at.now.toISOString()
  if (before === undefined)
    events.push({
      type: 'evt.vm.created',
      data: { vmId: now.vmId, tenantId: now.tenantId, nodeId: now.host, envId: now.envId, spec: now.spec },
    })
  if (before !== undefined && before.host !== now.host && now.host !== '')
    events.push({
      type: 'evt.vm.migrated',
      data: {
        vmId: now.vmId,
        fromNode: before.host,
        toNode: now.host,
        startTime: (at.since ?? at.now).toISOString(),
        completedTime: time,
      },
    })
  const wasOn = before?.powerState === 'poweredOn'
  const isOn = now.powerState === 'poweredOn'
  if (isOn && !wasOn)
    events.push({ type: 'evt.vm.started', data: { vmId: now.vmId, nodeId: now.host, startTime: time } })
  if (!isOn && wasOn)
    events.push({
      type: 'evt.vm.stopped',
      data: {
        vmId: now.vmId,
        stopTime: time,
        reason:
          stopReason ?? (now.powerState === 'suspended' ? 'suspended in vCenter' : 'powered off in vCenter'),
      },
    })
  return events
}
