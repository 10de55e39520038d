import { describe, expect, it } from 'vitest'
import { compareEntries, foldHistory, type HistoryEntry, occurredAtOf, type VmEvent } from './projection.ts'

const spec = { cpu: 2, memoryMiB: 4096, diskGiB: 40, guestOs: 'ubuntu64Guest' }
let sequence = 0
/** An entry as the store gives it back: the envelope time is when the adapter published it. */
const entry = (event: VmEvent, published: string): HistoryEntry => {
  sequence += 1
  const publishedAt = new Date(published)
  return {
    ...event,
    messageId: `0190f5e2-0000-7000-8000-${String(sequence).padStart(12, '0')}`,
    publishedAt,
    occurredAt: occurredAtOf(event, publishedAt),
  }
}
const created = entry(
  {
    type: 'evt.vm.created',
    data: { vmId: 'vm-1', tenantId: 'org-a', nodeId: 'host-1', envId: 'env-1', spec, tags: ['tier/web'] },
  },
  '2026-01-01T10:00:00Z',
)
const named = entry(
  {
    type: 'evt.sddc.vm.created',
    data: { vmId: 'vm-1', envId: 'env-1', deploymentId: 'dep-1', vAppId: 'vapp-1', name: 'web-1' },
  },
  '2026-01-01T10:00:01Z',
)
const started = entry(
  {
    type: 'evt.vm.started',
    data: { vmId: 'vm-1', nodeId: 'host-1', startTime: '2026-01-01T10:01:00Z', ipAddresses: ['10.0.0.5'] },
  },
  '2026-01-01T10:01:02Z',
)
const migrated = entry(
  {
    type: 'evt.vm.migrated',
    data: {
      vmId: 'vm-1',
      fromNode: 'host-1',
      toNode: 'host-2',
      startTime: '2026-01-01T11:00:00Z',
      completedTime: '2026-01-01T11:00:40Z',
    },
  },
  '2026-01-01T11:00:41Z',
)
const stopped = entry(
  {
    type: 'evt.vm.stopped',
    data: { vmId: 'vm-1', stopTime: '2026-01-01T12:00:00Z', reason: 'guest shutdown' },
  },
  '2026-01-01T12:00:03Z',
)
const history = [created, named, started, migrated, stopped]

describe('a VM folded from its history', () => {
  it('holds what each event said, in the order they happened', () => {
    expect(foldHistory('vm-1', 'org-a', history)).toEqual({
      vmId: 'vm-1',
      tenantId: 'org-a',
      name: 'web-1',
      envId: 'env-1',
      deploymentId: 'dep-1',
      host: 'host-2',
      powerState: 'off',
      spec,
      ipAddresses: ['10.0.0.5'],
      tags: ['tier/web'],
      createdAt: new Date('2026-01-01T10:00:00Z'),
      startedAt: new Date('2026-01-01T10:01:00Z'),
      stoppedAt: new Date('2026-01-01T12:00:00Z'),
      stopReason: 'guest shutdown',
      lastMigration: {
        fromHost: 'host-1',
        toHost: 'host-2',
        startedAt: '2026-01-01T11:00:00Z',
        completedAt: '2026-01-01T11:00:40Z',
      },
      events: 5,
      lastEventAt: new Date('2026-01-01T12:00:00Z'),
    })
  })

  it('a started delivered before its created folds as if delivered in order', () => {
    const inOrder = foldHistory('vm-1', 'org-a', [created, started])
    const reversed = foldHistory('vm-1', 'org-a', [started, created])
    expect(reversed).toEqual(inOrder)
    expect(reversed.powerState).toBe('on')
    expect(reversed.host).toBe('host-1')
  })

  it('is the same whatever order delivery took (every permutation)', () => {
    const expected = foldHistory('vm-1', 'org-a', history)
    const permutations = <T>(items: readonly T[]): T[][] =>
      items.length <= 1
        ? [[...items]]
        : items.flatMap((item, i) =>
            permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
          )
    const all = permutations(history)
    expect(all).toHaveLength(120)
    for (const delivered of all) expect(foldHistory('vm-1', 'org-a', delivered)).toEqual(expected)
  })

  it('a started alone gives a VM whose spec is not yet known', () => {
    const state = foldHistory('vm-1', 'org-a', [started])
    expect(state).toMatchObject({ powerState: 'on', host: 'host-1', spec: null, createdAt: null })
  })

  it('orders by the payload time, a creation first at the same instant, then by message id', () => {
    const sameInstant = entry(
      { type: 'evt.vm.started', data: { vmId: 'vm-1', nodeId: 'host-1', startTime: '2026-01-01T10:00:00Z' } },
      '2026-01-01T09:59:00Z',
    )
    expect([sameInstant, created].sort(compareEntries).map((e) => e.type)).toEqual([
      'evt.vm.created',
      'evt.vm.started',
    ])
    const [a, b] = [
      entry(stopped, stopped.publishedAt.toISOString()),
      entry(stopped, stopped.publishedAt.toISOString()),
    ]
    expect([b, a].sort(compareEntries)).toEqual([a, b])
  })
})
