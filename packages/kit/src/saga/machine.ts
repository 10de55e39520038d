// A saga's state as the projection of its history: what happened is appended, the state is folded
// from it (`apply`), so that a saga can be rebuilt from its history alone. Pure: no I/O.
import type { SagaDefinition } from './define.ts'

export type SagaStatus = 'running' | 'compensating' | 'succeeded' | 'failed' | 'cancelled'
export type SagaPhase = 'forward' | 'compensate'

export interface SagaFailure {
  /** The step that failed (null: the saga as a whole, its deadline or a cancel). */
  readonly step: string | null
  readonly code: string
  readonly reason: string
  readonly detail?: unknown
}

/** What happens to a saga, appended to its history in order. */
export type SagaEvent =
  | { readonly kind: 'started'; readonly input: unknown; readonly tenantId: string | null }
  | {
      readonly kind: 'step-started'
      readonly step: number
      readonly attempt: number
      /** The command sent (null: the step had nothing to do). */
      readonly commandId: string | null
    }
  | {
      readonly kind: 'step-succeeded'
      readonly step: number
      readonly attempt: number
      readonly result?: unknown
    }
  | {
      readonly kind: 'step-failed'
      readonly step: number
      readonly attempt: number
      readonly phase: SagaPhase
      readonly code: string
      readonly reason: string
      readonly retryable: boolean
      readonly detail?: unknown
    }
  | {
      readonly kind: 'step-timed-out'
      readonly step: number
      readonly attempt: number
      readonly phase: SagaPhase
    }
  | {
      readonly kind: 'retry-scheduled'
      readonly step: number
      /** The attempt that will be made. */
      readonly attempt: number
      readonly phase: SagaPhase
      readonly delayMs: number
    }
  | { readonly kind: 'cancel-requested'; readonly by: string | null }
  | {
      readonly kind: 'compensation-started'
      readonly failure: SagaFailure
      /** The steps to undo, in the order they will be undone. */
      readonly steps: readonly number[]
    }
  | {
      readonly kind: 'compensation-step-started'
      readonly step: number
      readonly attempt: number
      readonly commandId: string
    }
  | { readonly kind: 'step-compensated'; readonly step: number; readonly attempt: number }
  | {
      readonly kind: 'compensation-failed'
      readonly step: number
      readonly attempt: number
      readonly code: string
      readonly reason: string
      readonly detail?: unknown
    }
  | { readonly kind: 'not-undone'; readonly step: number; readonly why: 'irreversible' }
  | {
      readonly kind: 'answer-ignored'
      readonly type: string
      readonly messageId: string
      readonly why: 'stale' | 'unexpected'
    }
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed' }
  | { readonly kind: 'cancelled' }

export interface SagaState {
  readonly status: SagaStatus
  readonly tenantId: string | null
  readonly input: unknown
  readonly phase: SagaPhase
  /** The step being done or undone (its index). */
  readonly step: number
  readonly attempt: number
  /** The command whose answer is awaited, if any. */
  readonly awaiting: string | null
  /** An attempt waiting for its retry timer. */
  readonly retry: { readonly step: number; readonly attempt: number; readonly phase: SagaPhase } | null
  /** The results of the steps that succeeded, by name. */
  readonly results: Readonly<Record<string, unknown>>
  /** Indexes of the steps that succeeded, in order. */
  readonly done: readonly number[]
  readonly failure: SagaFailure | null
  /** The steps still to undo, the first being undone. */
  readonly undo: readonly number[]
  readonly compensationFailures: readonly (SagaFailure & { readonly step: string })[]
  readonly cancelRequested: boolean
  /** An attempt of the current step timed out: what its command did is unknown. */
  readonly uncertain: boolean
  /** How many events the state folds. */
  readonly version: number
}

export const initialState: SagaState = {
  status: 'running',
  tenantId: null,
  input: null,
  phase: 'forward',
  step: 0,
  attempt: 0,
  awaiting: null,
  retry: null,
  results: {},
  done: [],
  failure: null,
  undo: [],
  compensationFailures: [],
  cancelRequested: false,
  uncertain: false,
  version: 0,
}

/** The state after one more event. */
export function apply(definition: SagaDefinition<never>, state: SagaState, event: SagaEvent): SagaState {
  const next = { ...state, version: state.version + 1 }
  const name = (step: number) => definition.steps[step]?.name ?? `#${step}`
  switch (event.kind) {
    case 'started':
      return { ...next, status: 'running', input: event.input, tenantId: event.tenantId }
    case 'step-started':
      return {
        ...next,
        phase: 'forward',
        step: event.step,
        attempt: event.attempt,
        awaiting: event.commandId,
        retry: null,
        uncertain: event.attempt === 1 ? false : state.uncertain,
      }
    case 'step-succeeded':
      return {
        ...next,
        awaiting: null,
        results: { ...state.results, [name(event.step)]: event.result ?? null },
        done: [...state.done, event.step],
      }
    case 'step-failed':
      return { ...next, awaiting: null }
    case 'step-timed-out':
      return { ...next, awaiting: null, uncertain: state.uncertain || event.phase === 'forward' }
    case 'retry-scheduled':
      return { ...next, retry: { step: event.step, attempt: event.attempt, phase: event.phase } }
    case 'cancel-requested':
      return { ...next, cancelRequested: true }
    case 'compensation-started':
      return {
        ...next,
        status: 'compensating',
        phase: 'compensate',
        failure: event.failure,
        undo: event.steps,
        awaiting: null,
        retry: null,
      }
    case 'compensation-step-started':
      return { ...next, step: event.step, attempt: event.attempt, awaiting: event.commandId, retry: null }
    case 'step-compensated':
    case 'not-undone':
      return { ...next, awaiting: null, undo: state.undo.slice(1) }
    case 'compensation-failed':
      return {
        ...next,
        awaiting: null,
        undo: state.undo.slice(1),
        compensationFailures: [
          ...state.compensationFailures,
          {
            step: name(event.step),
            code: event.code,
            reason: event.reason,
            ...(event.detail === undefined ? {} : { detail: event.detail }),
          },
        ],
      }
    case 'answer-ignored':
      return next
    case 'succeeded':
      return { ...next, status: 'succeeded', awaiting: null, retry: null }
    case 'failed':
      return { ...next, status: 'failed', awaiting: null, retry: null }
    case 'cancelled':
      return { ...next, status: 'cancelled', awaiting: null, retry: null }
  }
}

/** The state a history folds to. */
export const fold = (definition: SagaDefinition<never>, events: readonly SagaEvent[]): SagaState =>
  events.reduce((state, event) => apply(definition, state, event), initialState)

export const isFinished = (status: SagaStatus) =>
  status === 'succeeded' || status === 'failed' || status === 'cancelled'

/**
 * The steps to undo when the saga stops going forward, in order: the steps that succeeded, last
 * first, and the step in flight when its outcome is unknown (timed out, cancelled, past the deadline:
 * its command may have done its work). Steps with nothing to undo are left out; an irreversible one
 * stays in the list, to be recorded as not undone.
 */
export function stepsToUndo(
  definition: SagaDefinition<never>,
  state: SagaState,
  inFlightUnknown: boolean,
): number[] {
  const undoable = (i: number) =>
    definition.steps[i]?.compensate !== undefined || definition.steps[i]?.irreversible === true
  const list = [...state.done].reverse()
  const unknown = inFlightUnknown || state.uncertain
  if (unknown && state.phase === 'forward' && !state.done.includes(state.step) && state.attempt > 0)
    list.unshift(state.step)
  return list.filter(undoable)
}
