import type {
  SddcVmCreated,
  VmCreated,
  VmMigrated,
  VmSpecSummary,
  VmStarted,
  VmStopped,
} from '@rxt/contracts'
import { assertNever } from '@rxt/kit'

/**
 * A VM's state is the fold of its lifecycle history (seed 002: event-sourced, CQRS). Pure: the live
 * projection and a rebuild run the same fold over the same ordered history, so they cannot differ.
 */

/** The messages a VM's history keeps, by type, with their payloads as the contracts type them. */
export type VmEvent =
  | { readonly type: 'evt.vm.created'; readonly data: VmCreated }
  | { readonly type: 'evt.vm.started'; readonly data: VmStarted }
  | { readonly type: 'evt.vm.stopped'; readonly data: VmStopped }
  | { readonly type: 'evt.vm.migrated'; readonly data: VmMigrated }
  | { readonly type: 'evt.sddc.vm.created'; readonly data: SddcVmCreated }

export const historyTypes = [
  'evt.vm.created',
  'evt.vm.started',
  'evt.vm.stopped',
  'evt.vm.migrated',
  'evt.sddc.vm.created',
] as const

/** One entry of a VM's history: the event, where it stands in the order, and which message it was. */
export type HistoryEntry = VmEvent & {
  readonly messageId: string
  /** When it happened: the payload's own time where it has one, else the envelope's (occurredAtOf). */
  readonly occurredAt: Date
  /** The envelope's time (when the message was made). */
  readonly publishedAt: Date
}

export const PowerState = { unknown: 'unknown', on: 'on', off: 'off' } as const
export type PowerState = (typeof PowerState)[keyof typeof PowerState]

export interface LastMigration {
  readonly fromHost: string
  readonly toHost: string
  readonly startedAt: string
  readonly completedAt: string
}

/** The projection of one VM: what the list and the details read. */
export interface VmState {
  readonly vmId: string
  readonly tenantId: string
  readonly name: string | null
  readonly envId: string | null
  readonly deploymentId: string | null
  readonly host: string | null
  readonly powerState: PowerState
  readonly spec: VmSpecSummary | null
  readonly ipAddresses: readonly string[]
  readonly tags: readonly string[]
  readonly createdAt: Date | null
  readonly startedAt: Date | null
  readonly stoppedAt: Date | null
  readonly stopReason: string | null
  readonly lastMigration: LastMigration | null
  /** How many events were folded in. */
  readonly events: number
  /** The occurredAt of the latest of them. */
  readonly lastEventAt: Date
}

/**
 * When an event happened, for ordering: its payload's own time (startTime, stopTime, completedTime)
 * where it carries one; created, and the adapter's evt.sddc.vm.created, carry none, so the envelope's
 * time stands for it.
 */
export function occurredAtOf(event: VmEvent, envelopeTime: Date): Date {
  switch (event.type) {
    case 'evt.vm.started':
      return new Date(event.data.startTime)
    case 'evt.vm.stopped':
      return new Date(event.data.stopTime)
    case 'evt.vm.migrated':
      return new Date(event.data.completedTime)
    case 'evt.vm.created':
    case 'evt.sddc.vm.created':
      return envelopeTime
    default:
      return assertNever(event)
  }
}

/**
 * The order a history is folded in: by occurredAt; at the same instant a creation first (nothing
 * happens to a VM before it exists), then by envelope time, then by message id (UUIDv7: creation
 * order), so that the order is total and the same on every replay, whatever order delivery took.
 */
export function compareEntries(a: HistoryEntry, b: HistoryEntry): number {
  return (
    a.occurredAt.getTime() - b.occurredAt.getTime() ||
    rank(a) - rank(b) ||
    a.publishedAt.getTime() - b.publishedAt.getTime() ||
    (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0)
  )
}

const rank = (entry: HistoryEntry) =>
  entry.type === 'evt.vm.created' ? 0 : entry.type === 'evt.sddc.vm.created' ? 1 : 2

const empty = (vmId: string, tenantId: string, at: Date): VmState => ({
  vmId,
  tenantId,
  name: null,
  envId: null,
  deploymentId: null,
  host: null,
  powerState: PowerState.unknown,
  spec: null,
  ipAddresses: [],
  tags: [],
  createdAt: null,
  startedAt: null,
  stoppedAt: null,
  stopReason: null,
  lastMigration: null,
  events: 0,
  lastEventAt: at,
})

/** One event applied to a VM's state. */
export function applyEvent(state: VmState, entry: HistoryEntry): VmState {
  const next = { ...state, events: state.events + 1, lastEventAt: entry.occurredAt }
  switch (entry.type) {
    case 'evt.vm.created':
      return {
        ...next,
        envId: entry.data.envId ?? next.envId,
        // Where it was placed, unless a later event (folded first, its time being earlier) said where it runs.
        host: next.host ?? entry.data.nodeId,
        spec: entry.data.spec,
        tags: entry.data.tags ?? next.tags,
        createdAt: entry.occurredAt,
        // A new VM is powered off until it is started (vSphere creates VMs powered off).
        powerState: next.powerState === PowerState.unknown ? PowerState.off : next.powerState,
      }
    case 'evt.sddc.vm.created':
      return {
        ...next,
        name: entry.data.name,
        envId: entry.data.envId,
        deploymentId: entry.data.deploymentId,
      }
    case 'evt.vm.started':
      return {
        ...next,
        powerState: PowerState.on,
        host: entry.data.nodeId,
        startedAt: entry.occurredAt,
        ipAddresses: entry.data.ipAddresses ?? next.ipAddresses,
      }
    case 'evt.vm.stopped':
      return {
        ...next,
        powerState: PowerState.off,
        stoppedAt: entry.occurredAt,
        stopReason: entry.data.reason,
      }
    case 'evt.vm.migrated':
      return {
        ...next,
        host: entry.data.toNode,
        lastMigration: {
          fromHost: entry.data.fromNode,
          toHost: entry.data.toNode,
          startedAt: entry.data.startTime,
          completedAt: entry.data.completedTime,
        },
      }
    default:
      return assertNever(entry)
  }
}

/** A VM's state from its whole history, in whatever order it is given: sorted first (compareEntries). */
export function foldHistory(vmId: string, tenantId: string, history: readonly HistoryEntry[]): VmState {
  const ordered = [...history].sort(compareEntries)
  const first = ordered[0]
  return ordered.reduce(applyEvent, empty(vmId, tenantId, first?.occurredAt ?? new Date(0)))
}
