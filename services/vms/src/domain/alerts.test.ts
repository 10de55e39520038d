import { describe, expect, it } from 'vitest'
import { evaluatePoweredOff, evaluateThreshold, isExpectedStop, type MetricPoint } from './alerts.ts'
import type { VmState } from './projection.ts'

const rule = { kind: 'threshold', metric: 'cpu', above: 90, forSeconds: 600 } as const
/** Five-minute samples ending at the given minutes past 10:00, with these values. */
const samples = (...points: [endMinute: number, value: number][]): MetricPoint[] =>
  points.map(([minute, value]) => ({
    windowStart: new Date(Date.UTC(2026, 0, 1, 10, minute - 5)),
    windowEnd: new Date(Date.UTC(2026, 0, 1, 10, minute)),
    value,
  }))
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 10, minute))

describe('a threshold rule (cpu above 90% for 10 minutes)', () => {
  it.each([
    ['no samples', [], false, { action: 'none' }],
    [
      'above for the whole 10 minutes',
      samples([5, 95], [10, 96], [15, 97]),
      false,
      { action: 'fire', at: at(15) },
    ],
    ['above for exactly the duration', samples([10, 95], [15, 97]), false, { action: 'fire', at: at(15) }],
    ['above for only 5 minutes', samples([15, 97]), false, { action: 'none' }],
    [
      'one sample in the duration at the level',
      samples([5, 95], [10, 90], [15, 97]),
      false,
      { action: 'none' },
    ],
    ['above now, below earlier in the duration', samples([10, 50], [15, 97]), false, { action: 'none' }],
    [
      'below long ago, above for the duration',
      samples([0, 10], [10, 95], [15, 97]),
      false,
      { action: 'fire', at: at(15) },
    ],
    [
      'out of order, above for the duration',
      samples([15, 97], [5, 95], [10, 96]),
      false,
      { action: 'fire', at: at(15) },
    ],
    ['firing and still above', samples([10, 95], [15, 97]), true, { action: 'none' }],
    [
      'firing and the latest at the level',
      samples([10, 95], [15, 90]),
      true,
      { action: 'resolve', at: at(15) },
    ],
    ['firing and the latest below', samples([10, 95], [15, 20]), true, { action: 'resolve', at: at(15) }],
    [
      'firing, a late old sample below, the latest above',
      samples([20, 97], [5, 10]),
      true,
      { action: 'none' },
    ],
  ] as const)('%s', (_case, points, firing, expected) => {
    expect(evaluateThreshold(rule, points, firing)).toMatchObject(expected)
  })

  it('says what fired, with the value', () => {
    expect(evaluateThreshold(rule, samples([10, 95], [15, 97.25]), false)).toEqual({
      action: 'fire',
      at: at(15),
      value: 97.25,
      detail: 'cpu above 90% for 600 s (now 97.3%)',
    })
  })
})

const vm = (fields: Partial<VmState>): VmState => ({
  vmId: 'vm-1',
  tenantId: 'org-a',
  name: null,
  envId: 'env-1',
  deploymentId: null,
  host: 'host-1',
  powerState: 'on',
  spec: null,
  ipAddresses: [],
  tags: [],
  createdAt: at(0),
  startedAt: at(1),
  stoppedAt: null,
  stopReason: null,
  lastMigration: null,
  events: 2,
  lastEventAt: at(1),
  ...fields,
})
const off = (reason: string) =>
  vm({ powerState: 'off', stoppedAt: at(30), stopReason: reason, lastEventAt: at(30) })

describe('the powered-off rule', () => {
  it.each([
    ['running', vm({}), false, { action: 'none' }],
    ['off by a guest shutdown', off('guest shutdown'), false, { action: 'fire', at: at(30) }],
    ['off by a host failure', off('host failure'), false, { action: 'fire', at: at(30) }],
    ['off, scaled down by RXT Deploy', off('scaled down'), false, { action: 'none' }],
    [
      'off, destroyed by RXT Deploy (with detail)',
      off('Destroyed: environment removed'),
      false,
      { action: 'none' },
    ],
    ['off unexpectedly, already firing', off('guest shutdown'), true, { action: 'none' }],
    [
      'on again after firing',
      vm({ startedAt: at(40), lastEventAt: at(40) }),
      true,
      { action: 'resolve', at: at(40) },
    ],
    [
      'firing, then the stop turns out to be a destroy',
      off('destroyed'),
      true,
      { action: 'resolve', at: at(30) },
    ],
    ['created, never started', vm({ powerState: 'off', startedAt: null }), false, { action: 'none' }],
  ] as const)('%s', (_case, state, firing, expected) => {
    expect(evaluatePoweredOff(state, firing)).toMatchObject(expected)
  })

  it.each([
    ['scaled down', true],
    ['  Scaled   Down ', true],
    ['destroyed: environment removed', true],
    ['rolled back', true],
    ['guest shutdown', false],
    ['scaled downward', false],
    ['not destroyed', false],
  ])('stop reason %j caused by RXT Deploy: %s', (reason, expected) => {
    expect(isExpectedStop(reason)).toBe(expected)
  })
})
