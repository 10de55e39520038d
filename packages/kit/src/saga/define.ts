import type { Envelope } from '@rxt/contracts'
import type { BackoffPolicy } from '../bus/backoff.ts'
import { InputError } from '../errors.ts'

/** A command a step sends: published through the context's outbox, with the tenant of its saga. */
export interface SagaCommand {
  readonly type: string
  readonly data: unknown
  /** Ordering key (default: the saga's id). */
  readonly key?: string
}

/** What a step's answer says: done (with what later steps may use), or failed (with a reason code). */
export type Settlement =
  | { readonly ok: true; readonly result?: unknown }
  | {
      readonly ok: false
      /** A reason code for machines (`platform-refused`, `quota-exceeded`, …). */
      readonly code: string
      /** For people: what went wrong, from the answer. */
      readonly reason: string
      /** Whether another attempt may succeed. */
      readonly retryable: boolean
      readonly detail?: unknown
    }

/** What a step's functions are given: the saga, its input, and the results of the steps before. */
export interface StepContext<I> {
  readonly sagaId: string
  readonly tenantId: string | null
  readonly input: I
  /** The results of the steps that succeeded, by step name. */
  readonly results: Readonly<Record<string, unknown>>
  /** 1 on a step's first attempt. */
  readonly attempt: number
}

/** How a command is settled: by the events its handler answers with (causation: the command). */
export type Settlers<I> = Readonly<Record<string, (event: Envelope, context: StepContext<I>) => Settlement>>

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number
  readonly backoff: BackoffPolicy
}

/** The undoing of a step: a command, settled like the step's. */
export interface Compensation<I> {
  /** The command that undoes it; undefined: nothing to undo this time (it is compensated at once). */
  readonly invoke: (context: StepContext<I>) => SagaCommand | undefined
  readonly settle: Settlers<I>
  readonly timeoutMs: number
  readonly retry?: RetryPolicy
}

export interface SagaStep<I> {
  readonly name: string
  /** The command that does the step; undefined: there is nothing to do (it succeeds at once). */
  readonly invoke: (context: StepContext<I>) => SagaCommand | undefined
  /** The events that settle it, by type. Any other answer to its command is recorded and ignored. */
  readonly settle: Settlers<I>
  /** How long one attempt may wait for its answer. */
  readonly timeoutMs: number
  /** Default: one attempt. */
  readonly retry?: RetryPolicy
  /** How to undo it once it succeeded, when a later step fails or the saga is cancelled. */
  readonly compensate?: Compensation<I>
  /** It cannot be undone (and says so in the history when a later step fails). */
  readonly irreversible?: true
}

export interface SagaDefinition<I = unknown> {
  /** Unique in the context (`deploy`); the saga's handler is `<context>.saga-<type>`. */
  readonly type: string
  readonly version: number
  /** The steps, in order: the whole flow, top to bottom. */
  readonly steps: readonly SagaStep<I>[]
  /** The whole saga's deadline, from its start; past it the saga fails and compensates. Default 30 min. */
  readonly timeoutMs?: number
}

/**
 * Declares a saga: an orchestration of steps, each a command and the events that settle it, undone in
 * reverse when a later one fails. Checks what can be checked once: names unique, a step either
 * irreversible or compensated, positive timeouts and attempts.
 */
export function defineSaga<I>(definition: SagaDefinition<I>): SagaDefinition<I> {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(definition.type))
    throw new InputError(
      `saga type ${JSON.stringify(definition.type)} is not lower-case letters, digits and dashes`,
    )
  if (definition.steps.length === 0) throw new InputError(`saga ${definition.type} has no steps`)
  const names = new Set<string>()
  for (const step of definition.steps) {
    if (names.has(step.name)) throw new InputError(`saga ${definition.type} has two steps named ${step.name}`)
    names.add(step.name)
    if (step.irreversible === true && step.compensate !== undefined)
      throw new InputError(
        `step ${definition.type}.${step.name} is irreversible and compensated: one or the other`,
      )
    for (const [what, ms] of [
      ['timeoutMs', step.timeoutMs],
      ['compensate.timeoutMs', step.compensate?.timeoutMs ?? 1],
    ] as const)
      if (!(Number.isInteger(ms) && ms > 0))
        throw new InputError(`step ${definition.type}.${step.name}: ${what} must be a positive integer`)
    for (const retry of [step.retry, step.compensate?.retry])
      if (retry !== undefined && !(Number.isInteger(retry.maxAttempts) && retry.maxAttempts >= 1))
        throw new InputError(`step ${definition.type}.${step.name}: retry.maxAttempts must be at least 1`)
    if (Object.keys(step.settle).length === 0)
      throw new InputError(`step ${definition.type}.${step.name} is settled by no event`)
  }
  return definition
}

/** Every event type a saga's steps and compensations are settled by. */
export const settlingTypes = (definition: SagaDefinition<never>): string[] => [
  ...new Set(
    definition.steps.flatMap((s) => [...Object.keys(s.settle), ...Object.keys(s.compensate?.settle ?? {})]),
  ),
]
