// Follows vCenter's VMs of the adapter's environments through the property collector (a container view
// of the environments' root folder, WaitForUpdatesEx: no polling) and publishes their lifecycle events,
// whoever caused the change. What it saw of each VM is recorded with the events it published, in one
// transaction, so that a restart neither repeats nor loses one.
import { setTimeout as sleep } from 'node:timers/promises'
import type { ContextBus, ContextDb, Logger } from '@rxt/kit'
import { lifecycleEvents, type VmRecord } from './lifecycle.ts'
import { type VimClient, VimError } from './vim/client.ts'
import { type Change, openWatch, retrieve } from './vim/collector.ts'
import { asList, type Decoded, field, type Ref, refOf, text, typed } from './vim/xml.ts'

export const followedProperties = [
  'name',
  'parent',
  'runtime.powerState',
  'runtime.host',
  'summary.config.numCpu',
  'summary.config.memorySizeMB',
  'summary.config.guestId',
  'summary.storage.committed',
  'summary.storage.uncommitted',
] as const

export interface FollowerOptions {
  readonly client: VimClient
  readonly db: ContextDb
  readonly bus: ContextBus
  readonly log: Logger
  readonly now: () => Date
  /** The folder holding every environment's folder. */
  readonly root: () => Promise<Ref>
  /** The key of the custom attribute holding an environment's state (rxt.state). */
  readonly stateField: () => Promise<number>
  /** Why RXT Deploy powered a VM off, when it did (scaled down, replaced, destroyed). */
  readonly stopReason: (vmId: string) => string | undefined
}

/** Starts following; `stop` ends it (the long poll it waits on is abandoned). */
export function followVms(options: FollowerOptions): { stop(): Promise<void> } {
  const { client, db, bus, log } = options
  let running = true
  const props = new Map<string, Record<string, Decoded | undefined>>()
  /** Environment folders' owners, by folder. */
  const owners = new Map<string, { tenantId: string; envId: string } | null>()

  const ownerOf = async (folder: Ref) => {
    if (owners.has(folder.value)) return owners.get(folder.value) ?? undefined
    const key = await options.stateField()
    const [read] = await retrieve(client, 'Folder', [folder], ['customValue'])
    const value = asList(read?.props.customValue).find((v) => text(field(v, 'key')) === String(key))
    let owner: { tenantId: string; envId: string } | null = null
    try {
      const state =
        value === undefined ? undefined : (JSON.parse(text(field(value, 'value'))) as Record<string, unknown>)
      if (typeof state?.tenantId === 'string' && typeof state.envId === 'string')
        owner = { tenantId: state.tenantId, envId: state.envId }
    } catch {
      owner = null
    }
    owners.set(folder.value, owner)
    return owner ?? undefined
  }

  const recordOf = async (
    vmId: string,
    p: Record<string, Decoded | undefined>,
  ): Promise<VmRecord | undefined> => {
    const parent = refOf(p.parent)
    if (parent === undefined) return undefined
    const owner = await ownerOf(parent)
    if (owner === undefined) return undefined
    const power = text(p['runtime.powerState'])
    const bytes =
      Number(text(p['summary.storage.committed']) || 0) + Number(text(p['summary.storage.uncommitted']) || 0)
    return {
      vmId,
      tenantId: owner.tenantId,
      envId: owner.envId,
      host: refOf(p['runtime.host'])?.value ?? '',
      powerState: power === 'poweredOn' || power === 'suspended' ? power : 'poweredOff',
      spec: {
        cpu: Math.max(1, Number(text(p['summary.config.numCpu']) || 1)),
        memoryMiB: Math.max(1, Number(text(p['summary.config.memorySizeMB']) || 1)),
        diskGiB: Math.round(bytes / 2 ** 30),
        guestOs: text(p['summary.config.guestId']) || 'otherGuest',
      },
    }
  }

  const apply = async (changes: readonly Change[]) => {
    const touched = new Set<string>()
    for (const change of changes) {
      if (change.kind === 'leave') {
        // Gone from vCenter (destroyed, or moved out of the environments' folder): a VM still on when
        // last seen stopped with it.
        const vmId = change.obj.value
        props.delete(vmId)
        touched.delete(vmId)
        await db.transaction(async (tx) => {
          await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sddc-vm:${vmId}`])
          const before = (
            await tx.query<{ record: VmRecord }>('SELECT record FROM vm_records WHERE vm_id = $1', [vmId])
          ).rows[0]?.record
          if (before?.powerState === 'poweredOn')
            await bus.publish(tx, {
              type: 'evt.vm.stopped',
              tenantId: before.tenantId,
              key: vmId,
              data: {
                vmId,
                stopTime: options.now().toISOString(),
                reason: options.stopReason(vmId) ?? 'destroyed: removed from vCenter',
              },
            } as never)
          await tx.query('DELETE FROM vm_records WHERE vm_id = $1', [vmId])
        })
        continue
      }
      const current = props.get(change.obj.value) ?? {}
      if (change.name !== '') current[change.name] = change.op === 'remove' ? undefined : change.val
      props.set(change.obj.value, current)
      touched.add(change.obj.value)
    }
    for (const vmId of touched) {
      const record = await recordOf(vmId, props.get(vmId) ?? {})
      if (record === undefined) continue
      await db.transaction(async (tx) => {
        // One VM at a time across processes (a row not there yet locks nothing): each change once.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sddc-vm:${vmId}`])
        const before = (
          await tx.query<{ record: VmRecord; updated_at: Date }>(
            'SELECT record, updated_at FROM vm_records WHERE vm_id = $1',
            [vmId],
          )
        ).rows[0]
        const now = options.now()
        const events = lifecycleEvents(
          before?.record,
          record,
          { now, since: before?.updated_at },
          options.stopReason(vmId),
        )
        for (const event of events)
          await bus.publish(tx, {
            type: event.type,
            tenantId: record.tenantId,
            key: vmId,
            data: event.data,
          } as never)
        await tx.query(
          `INSERT INTO vm_records (vm_id, tenant_id, record, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (vm_id) DO UPDATE SET record = $3, updated_at = $4`,
          [vmId, record.tenantId, JSON.stringify(record), now],
        )
      })
    }
  }

  const loop = async () => {
    let backoff = 500
    while (running) {
      let view: Ref | undefined
      try {
        const { viewManager } = await client.content()
        view = refOf(
          await client.call('CreateContainerView', viewManager, {
            container: await options.root(),
            type: ['VirtualMachine'],
            recursive: true,
          }),
        )
        if (view === undefined) throw new VimError('unavailable', 'CreateContainerView answered no view')
        const watch = await openWatch(client, 'VirtualMachine', [view], followedProperties, [
          typed('TraversalSpec', { name: 'view', type: 'ContainerView', path: 'view', skip: false }),
        ])
        props.clear()
        owners.clear()
        try {
          while (running) {
            const changes = await watch.next(20)
            if (changes === undefined) {
              // vcsim answers at once when nothing changed within the wait.
              await sleep(250)
              continue
            }
            await apply(changes)
            backoff = 500
          }
        } finally {
          await watch.close()
        }
      } catch (error) {
        if (!running) break
        log.warn({ error: (error as Error).message }, 'following vCenter VMs failed; following again')
        await sleep(backoff)
        backoff = Math.min(backoff * 2, 30_000)
      } finally {
        if (view !== undefined) await client.call('DestroyView', view).catch(() => undefined)
      }
    }
  }
  const done = loop()
  return {
    async stop() {
      running = false
      await Promise.race([done, sleep(1_000)])
    },
  }
}
