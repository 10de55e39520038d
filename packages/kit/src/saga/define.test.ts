import { describe, expect, it } from 'vitest'
import { defineSaga, type SagaStep, settlingTypes } from './define.ts'
import { fold, stepsToUndo } from './machine.ts'

const settle = { 'evt.x.done': () => ({ ok: true as const }) }
const step = (name: string, extra: Partial<SagaStep<unknown>> = {}): SagaStep<unknown> => ({
  name,
  timeoutMs: 1000,
  invoke: () => ({ type: 'cmd.x.do', data: {} }),
  settle,
  ...extra,
})

describe('defineSaga', () => {
  it('refuses what cannot run: no steps, two steps of one name, an irreversible step with a compensation, no settling event, no attempts', () => {
    expect(() => defineSaga({ type: 'x', version: 1, steps: [] })).toThrow('saga x has no steps')
    expect(() => defineSaga({ type: 'x', version: 1, steps: [step('a'), step('a')] })).toThrow(
      'saga x has two steps named a',
    )
    expect(() =>
      defineSaga({
        type: 'x',
        version: 1,
        steps: [
          step('a', {
            irreversible: true,
            compensate: { invoke: () => ({ type: 't', data: {} }), settle, timeoutMs: 1 },
          }),
        ],
      }),
    ).toThrow('step x.a is irreversible and compensated: one or the other')
    expect(() => defineSaga({ type: 'x', version: 1, steps: [step('a', { settle: {} })] })).toThrow(
      'step x.a is settled by no event',
    )
    expect(() =>
      defineSaga({
        type: 'x',
        version: 1,
        steps: [step('a', { retry: { maxAttempts: 0, backoff: { baseMs: 1, maxMs: 1 } } })],
      }),
    ).toThrow('retry.maxAttempts must be at least 1')
    expect(() => defineSaga({ type: 'X Y', version: 1, steps: [step('a')] })).toThrow(/lower-case/)
  })

  it('lists the events that settle its steps and their compensations', () => {
    const saga = defineSaga({
      type: 'x',
      version: 1,
      steps: [
        step('a', {
          compensate: {
            invoke: () => ({ type: 't', data: {} }),
            settle: { 'evt.x.undone': () => ({ ok: true }) },
            timeoutMs: 1,
          },
        }),
      ],
    })
    expect(settlingTypes(saga as never)).toEqual(['evt.x.done', 'evt.x.undone'])
  })
})

describe('the saga state machine', () => {
  const saga = defineSaga({
    type: 'x',
    version: 1,
    steps: [
      step('a', { compensate: { invoke: () => ({ type: 't', data: {} }), settle, timeoutMs: 1 } }),
      step('b', { irreversible: true }),
      step('c'),
      step('d', { compensate: { invoke: () => ({ type: 't', data: {} }), settle, timeoutMs: 1 } }),
    ],
  }) as never
  const upToD = fold(saga, [
    { kind: 'started', input: { n: 1 }, tenantId: 't' },
    { kind: 'step-started', step: 0, attempt: 1, commandId: 'c0' },
    { kind: 'step-succeeded', step: 0, attempt: 1, result: 'A' },
    { kind: 'step-started', step: 1, attempt: 1, commandId: 'c1' },
    { kind: 'step-succeeded', step: 1, attempt: 1 },
    { kind: 'step-started', step: 2, attempt: 1, commandId: 'c2' },
    { kind: 'step-succeeded', step: 2, attempt: 1 },
    { kind: 'step-started', step: 3, attempt: 1, commandId: 'c3' },
  ])

  it('folds a history into the state: results by step, the command awaited, the version', () => {
    expect(upToD).toMatchObject({
      status: 'running',
      step: 3,
      attempt: 1,
      awaiting: 'c3',
      results: { a: 'A', b: null, c: null },
      done: [0, 1, 2],
      version: 8,
    })
  })

  it('undoes the done steps last first, leaving out those with nothing to undo, and the step in flight only when its outcome is unknown', () => {
    expect(stepsToUndo(saga, upToD, false)).toEqual([1, 0])
    expect(stepsToUndo(saga, upToD, true)).toEqual([3, 1, 0])
    const timedOut = fold(saga, [
      { kind: 'started', input: null, tenantId: null },
      { kind: 'step-started', step: 0, attempt: 1, commandId: 'c0' },
      { kind: 'step-succeeded', step: 0, attempt: 1 },
      { kind: 'step-started', step: 1, attempt: 1, commandId: 'c1' },
      { kind: 'step-succeeded', step: 1, attempt: 1 },
      { kind: 'step-started', step: 2, attempt: 1, commandId: 'c2' },
      { kind: 'step-succeeded', step: 2, attempt: 1 },
      { kind: 'step-started', step: 3, attempt: 1, commandId: 'c3' },
      { kind: 'step-timed-out', step: 3, attempt: 1, phase: 'forward' },
      { kind: 'retry-scheduled', step: 3, attempt: 2, phase: 'forward', delayMs: 10 },
      { kind: 'step-started', step: 3, attempt: 2, commandId: 'c4' },
      {
        kind: 'step-failed',
        step: 3,
        attempt: 2,
        phase: 'forward',
        code: 'x',
        reason: 'x',
        retryable: false,
      },
    ])
    // The first attempt timed out: what it did is unknown, so the step is undone though the second failed.
    expect(stepsToUndo(saga, timedOut, false)).toEqual([3, 1, 0])
  })
})
