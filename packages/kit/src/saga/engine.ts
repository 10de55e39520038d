import type { Envelope } from '@rxt/contracts'
import { backoffDelay } from '../bus/backoff.ts'
import type { ContextBus } from '../bus/bus.ts'
import type { MessageHandler } from '../bus/handling.ts'
import type { ContextJob } from '../context.ts'
import type { ContextDb, Queryable, Transaction } from '../db/index.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import type { Logger } from '../log.ts'
import {
  type SagaDefinition,
  type SagaStep,
  type Settlement,
  type StepContext,
  settlingTypes,
} from './define.ts'
import {
  apply,
  fold,
  initialState,
  isFinished,
  type SagaEvent,
  type SagaFailure,
  type SagaPhase,
  type SagaState,
  type SagaStatus,
  stepsToUndo,
} from './machine.ts'

/** A saga as the engine shows it. */
export interface SagaInstance {
  readonly id: string
  readonly type: string
  readonly typeVersion: number
  readonly status: SagaStatus
  readonly tenantId: string | null
  readonly input: unknown
  /** The step being done or undone (null before the first). */
  readonly step: string | null
  readonly attempt: number
  readonly results: Readonly<Record<string, unknown>>
  readonly failure: SagaFailure | null
  readonly compensationFailures: readonly (SagaFailure & { readonly step: string })[]
  readonly version: number
  readonly createdAt: Date
  readonly updatedAt: Date
}

export interface SagaHistoryEntry {
  readonly seq: number
  readonly at: Date
  readonly event: SagaEvent
}

export interface StartSaga<I> {
  readonly type: string
  /** Deterministic: starting a saga whose id exists returns the existing one. */
  readonly id: string
  readonly input: I
  readonly tenantId: string | null
}

export interface SagaEngineOptions {
  readonly context: string
  readonly db: ContextDb
  readonly bus: ContextBus
  // biome-ignore lint/suspicious/noExplicitAny: each saga types its own input
  readonly definitions: readonly SagaDefinition<any>[]
  readonly log: Logger
  /** How often due timers are looked for: a crashed replica's timers fire on another within it. */
  readonly timerPollMs?: number
  /**
   * SAGA_RECOVERY_MS: how soon a crashed replica's sagas go on elsewhere; timers are polled every
   * quarter of it, at most every second (unless `timerPollMs` says).
   */
  readonly recoveryMs?: number
  /** A saga's deadline unless its definition gives one. Default 30 min. */
  readonly defaultTimeoutMs?: number
  /**
   * Told every transition, in its transaction, after it is stored: the saga as it is now and what was
   * appended to its history. A context keeps its read models and publishes its domain events here
   * (a deployment's status, evt.deploy.ready), so that they commit or roll back with the transition.
   */
  readonly observe?: (tx: Transaction, saga: SagaInstance, events: readonly SagaEvent[]) => Promise<void>
}

interface Row {
  id: string
  type: string
  type_version: number
  tenant_id: string | null
  status: SagaStatus
  state: SagaState | string
  version: number
  created_at: Date | string
  updated_at: Date | string
}

const parsed = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value)

/**
 * The saga engine of one context: sagas on its own schema (kit migration 0006), driven by the bus
 * (each step's command goes out through the outbox; the events that answer it come back through one
 * handler, `<context>.sagas`, which holds its key after a dead letter) and by durable timers (step
 * timeouts, retries, the deadline) that any replica fires. Every transition is one transaction that
 * locks the saga's row, appends to its history and stores the state folded from it: any replica may
 * advance any saga, and a step's command is sent once per attempt.
 */
export function createSagaEngine(options: SagaEngineOptions) {
  const { db, bus, log } = options
  const timerPollMs = options.timerPollMs ?? Math.min(1_000, Math.floor((options.recoveryMs ?? 60_000) / 4))
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 30 * 60_000
  // Every version of a type that instances may still run: a saga runs to its end on the definition it
  // started with (its steps by index), and a new one starts on the newest.
  // biome-ignore lint/suspicious/noExplicitAny: each saga types its own input
  const versions = new Map<string, Map<number, SagaDefinition<any>>>()
  // biome-ignore lint/suspicious/noExplicitAny: each saga types its own input
  const definitions = new Map<string, SagaDefinition<any>>()
  for (const definition of options.definitions) {
    const known = versions.get(definition.type) ?? new Map()
    if (known.has(definition.version))
      throw new InputError(`saga type ${definition.type} version ${definition.version} is defined twice`)
    known.set(definition.version, definition)
    versions.set(definition.type, known)
    const newest = definitions.get(definition.type)
    if (newest === undefined || newest.version < definition.version)
      definitions.set(definition.type, definition)
  }
  /** The definition of `type` an instance of `version` runs on (the newest when that one is gone). */
  const definitionOf = (type: string, version?: number) => {
    const definition =
      (version === undefined ? undefined : versions.get(type)?.get(version)) ?? definitions.get(type)
    if (definition === undefined) throw new NotFoundError(`no saga type ${type} in ${options.context}`)
    return definition
  }

  /** One transition of one saga, in `tx`: events recorded, then stored with the folded state. */
  const session = (tx: Transaction, definition: SagaDefinition<never>, id: string, from: SagaState) => {
    let state = from
    const events: SagaEvent[] = []
    const record = (event: SagaEvent) => {
      events.push(event)
      state = apply(definition, state, event)
    }
    const context = (attempt: number): StepContext<never> => ({
      sagaId: id,
      tenantId: state.tenantId,
      input: state.input as never,
      results: state.results,
      attempt,
    })
    const timer = (
      kind: 'timeout' | 'retry' | 'deadline',
      step: number,
      attempt: number,
      phase: SagaPhase,
      ms: number,
    ) =>
      tx.query(
        `INSERT INTO rxt_saga_timers (saga_id, kind, step, attempt, phase, due_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::double precision / 1000))`,
        [id, kind, step, attempt, phase, ms],
      )
    const clearTimers = (kinds: readonly string[]) =>
      tx.query('DELETE FROM rxt_saga_timers WHERE saga_id = $1 AND kind = ANY($2::text[])', [id, kinds])

    const send = async (step: number, attempt: number, phase: SagaPhase) => {
      const s = definition.steps[step] as SagaStep<never>
      const command =
        phase === 'forward' ? s.invoke(context(attempt)) : s.compensate?.invoke(context(attempt))
      if (command === undefined) return undefined
      const [envelope] = await bus.publishAll(tx, [
        {
          type: command.type,
          data: command.data,
          tenantId: state.tenantId,
          key: command.key ?? id,
          idempotencyKey: `${id}:${s.name}:${phase === 'forward' ? '' : 'undo:'}${attempt}`,
        },
      ])
      const commandId = (envelope as Envelope).id
      await tx.query(
        'INSERT INTO rxt_saga_commands (message_id, saga_id, step, attempt, phase) VALUES ($1, $2, $3, $4, $5)',
        [commandId, id, step, attempt, phase],
      )
      await timer(
        'timeout',
        step,
        attempt,
        phase,
        phase === 'forward' ? s.timeoutMs : (s.compensate?.timeoutMs ?? s.timeoutMs),
      )
      return commandId
    }

    /** Does step `step` (attempt `attempt`); a step with nothing to do succeeds at once. */
    const enter = async (step: number, attempt: number): Promise<void> => {
      if (step >= definition.steps.length) {
        record({ kind: 'succeeded' })
        await clearTimers(['timeout', 'retry', 'deadline'])
        return
      }
      const commandId = await send(step, attempt, 'forward')
      record({ kind: 'step-started', step, attempt, commandId: commandId ?? null })
      if (commandId === undefined) {
        record({ kind: 'step-succeeded', step, attempt })
        await enter(step + 1, 1)
      }
    }

    /** Undoes the next step of the list; ends the saga when none is left. */
    const undoNext = async (): Promise<void> => {
      for (;;) {
        const step = state.undo[0]
        if (step === undefined) {
          record({ kind: state.cancelRequested ? 'cancelled' : 'failed' })
          await clearTimers(['timeout', 'retry', 'deadline'])
          return
        }
        const s = definition.steps[step] as SagaStep<never>
        if (s.irreversible === true || s.compensate === undefined) {
          record({ kind: 'not-undone', step, why: 'irreversible' })
          continue
        }
        const commandId = await send(step, 1, 'compensate')
        // Its compensation found nothing to undo this time (what it did is undone with another step).
        if (commandId === undefined) {
          record({ kind: 'step-compensated', step, attempt: 1 })
          continue
        }
        record({ kind: 'compensation-step-started', step, attempt: 1, commandId })
        return
      }
    }

    /** Stops going forward: undoes what was done, last first. */
    const compensate = async (failure: SagaFailure, inFlightUnknown: boolean) => {
      await clearTimers(['timeout', 'retry', 'deadline'])
      record({
        kind: 'compensation-started',
        failure,
        steps: stepsToUndo(definition, state, inFlightUnknown),
      })
      await undoNext()
    }

    /** An attempt failed: another after its backoff, or (out of attempts, or not retryable) the next move. */
    const failed = async (failure: Extract<Settlement, { ok: false }>, timedOut: boolean) => {
      const s = definition.steps[state.step] as SagaStep<never>
      const phase = state.phase
      const retry = phase === 'forward' ? s.retry : s.compensate?.retry
      await clearTimers(['timeout'])
      if (failure.retryable && state.attempt < (retry?.maxAttempts ?? 1)) {
        const delayMs = backoffDelay(retry?.backoff ?? { baseMs: 1_000, maxMs: 60_000 }, state.attempt)
        record({ kind: 'retry-scheduled', step: state.step, attempt: state.attempt + 1, phase, delayMs })
        await timer('retry', state.step, state.attempt + 1, phase, delayMs)
        return
      }
      if (phase === 'forward') {
        await compensate(
          {
            step: s.name,
            code: failure.code,
            reason: failure.reason,
            ...(failure.detail === undefined ? {} : { detail: failure.detail }),
          },
          timedOut,
        )
        return
      }
      record({
        kind: 'compensation-failed',
        step: state.step,
        attempt: state.attempt,
        code: failure.code,
        reason: failure.reason,
        ...(failure.detail === undefined ? {} : { detail: failure.detail }),
      })
      log.error(
        { sagaId: id, type: definition.type, step: s.name, code: failure.code, reason: failure.reason },
        'a compensation failed: a person must undo this step',
      )
      await undoNext()
    }

    const settled = async (settlement: Settlement) => {
      if (settlement.ok) {
        await clearTimers(['timeout'])
        if (state.phase === 'forward') {
          record({
            kind: 'step-succeeded',
            step: state.step,
            attempt: state.attempt,
            ...(settlement.result === undefined ? {} : { result: settlement.result }),
          })
          await enter(state.step + 1, 1)
        } else {
          record({ kind: 'step-compensated', step: state.step, attempt: state.attempt })
          await undoNext()
        }
        return
      }
      record({
        kind: 'step-failed',
        step: state.step,
        attempt: state.attempt,
        phase: state.phase,
        code: settlement.code,
        reason: settlement.reason,
        retryable: settlement.retryable,
        ...(settlement.detail === undefined ? {} : { detail: settlement.detail }),
      })
      await failed(settlement, false)
    }

    const resend = async (step: number, attempt: number, phase: SagaPhase) => {
      if (phase === 'forward') return enter(step, attempt)
      const commandId = await send(step, attempt, 'compensate')
      if (commandId === undefined) {
        record({ kind: 'step-compensated', step, attempt })
        return undoNext()
      }
      record({ kind: 'compensation-step-started', step, attempt, commandId })
    }

    /** Stores what was recorded: history appended, state replaced (the row is locked; the version checked). */
    const save = async (created: boolean) => {
      if (events.length === 0) return state
      const base = from.version
      await tx.query(
        `INSERT INTO rxt_saga_history (saga_id, seq, kind, event)
         SELECT $1, $2::int + n, e->>'kind', e FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS h(e, n)`,
        [id, base, JSON.stringify(events)],
      )
      if (created) return state
      const { rowCount } = await tx.query(
        'UPDATE rxt_sagas SET status = $2, state = $3::jsonb, version = $4, updated_at = now() WHERE id = $1 AND version = $5',
        [id, state.status, JSON.stringify(state), state.version, base],
      )
      if (rowCount === 0) throw new ConflictError(`saga ${id} changed meanwhile`)
      return state
    }

    return {
      record,
      enter,
      compensate,
      failed,
      settled,
      resend,
      save,
      timer,
      get state() {
        return state
      },
      get events(): readonly SagaEvent[] {
        return events
      },
    }
  }

  const lockRow = async (tx: Transaction, id: string) =>
    (await tx.query<Row & Record<string, unknown>>('SELECT * FROM rxt_sagas WHERE id = $1 FOR UPDATE', [id]))
      .rows[0]

  const instanceOf = (row: Row): SagaInstance => {
    const state = parsed(row.state)
    const definition = versions.get(row.type)?.get(row.type_version) ?? definitions.get(row.type)
    return {
      id: row.id,
      type: row.type,
      typeVersion: row.type_version,
      status: row.status,
      tenantId: row.tenant_id,
      input: state.input,
      step: state.attempt === 0 ? null : (definition?.steps[state.step]?.name ?? null),
      attempt: state.attempt,
      results: state.results,
      failure: state.failure,
      compensationFailures: state.compensationFailures,
      version: row.version,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    }
  }

  /** Runs `change` on saga `id` in `tx` (its row locked); undefined when there is no such saga. */
  const advance = async (
    tx: Transaction,
    id: string,
    change: (s: ReturnType<typeof session>, row: Row) => Promise<void>,
  ) => {
    const row = await lockRow(tx, id)
    if (row === undefined) return undefined
    const definition = definitionOf(row.type, row.type_version) as SagaDefinition<never>
    const s = session(tx, definition, id, parsed(row.state))
    await change(s, row)
    await s.save(false)
    if (options.observe !== undefined && s.events.length > 0)
      await options.observe(
        tx,
        instanceOf({ ...row, status: s.state.status, state: s.state, version: s.state.version }),
        s.events,
      )
    return s.state
  }

  /** An answer to one of this context's saga commands (its causation is the command). */
  const answered = async (tx: Transaction, event: Envelope) => {
    if (event.causationId === null) return
    const { rows } = await tx.query<{ saga_id: string; step: number; attempt: number; phase: SagaPhase }>(
      'SELECT saga_id, step, attempt, phase FROM rxt_saga_commands WHERE message_id = $1',
      [event.causationId],
    )
    const command = rows[0]
    if (command === undefined) return // not a saga's command: another handler's business
    await advance(tx, command.saga_id, async (s, row) => {
      const definition = definitionOf(row.type, row.type_version)
      const state = s.state
      if (isFinished(state.status) || state.awaiting !== event.causationId) {
        s.record({ kind: 'answer-ignored', type: event.type, messageId: event.id, why: 'stale' })
        return
      }
      const step = definition.steps[command.step] as SagaStep<unknown>
      const settle = (command.phase === 'forward' ? step.settle : step.compensate?.settle)?.[event.type]
      if (settle === undefined) {
        s.record({ kind: 'answer-ignored', type: event.type, messageId: event.id, why: 'unexpected' })
        return
      }
      await s.settled(
        settle(event, {
          sagaId: row.id,
          tenantId: state.tenantId,
          input: state.input,
          results: state.results,
          attempt: state.attempt,
        }),
      )
    })
  }

  interface TimerRow {
    id: string
    saga_id: string
    kind: 'timeout' | 'retry' | 'deadline'
    step: number
    attempt: number
    phase: SagaPhase
  }

  /** Fires one due timer (its saga locked first, then the timer taken: the order every transition keeps). */
  const fire = (timer: Pick<TimerRow, 'id' | 'saga_id'>) =>
    db.transaction(async (tx) => {
      await advance(tx, timer.saga_id, async (s) => {
        const { rows } = await tx.query<TimerRow & Record<string, unknown>>(
          'DELETE FROM rxt_saga_timers WHERE id = $1 AND due_at <= now() RETURNING *',
          [timer.id],
        )
        const t = rows[0]
        if (t === undefined) return // fired by another replica, or cleared
        const state = s.state
        if (isFinished(state.status)) return
        if (t.kind === 'deadline') {
          if (state.status !== 'running') return
          await s.compensate({ step: null, code: 'deadline', reason: 'the saga ran past its deadline' }, true)
        } else if (t.kind === 'timeout') {
          if (
            state.awaiting === null ||
            state.step !== t.step ||
            state.attempt !== t.attempt ||
            state.phase !== t.phase
          )
            return
          s.record({ kind: 'step-timed-out', step: t.step, attempt: t.attempt, phase: t.phase })
          await s.failed(
            { ok: false, code: 'timeout', reason: 'no answer within the step timeout', retryable: true },
            true,
          )
        } else {
          const due = state.retry
          if (due === null || due.step !== t.step || due.attempt !== t.attempt || due.phase !== t.phase)
            return
          await s.resend(t.step, t.attempt, t.phase)
        }
      })
    })

  /** Fires what is due; resolves with how many timers it looked at. */
  const fireDue = async (limit = 100) => {
    const { rows } = await db.query<{ id: string; saga_id: string }>(
      'SELECT id, saga_id FROM rxt_saga_timers WHERE due_at <= now() ORDER BY due_at LIMIT $1',
      [limit],
    )
    for (const timer of rows) {
      await fire(timer).catch((error: unknown) =>
        log.warn({ err: error, sagaId: timer.saga_id }, 'saga timer not fired; it stays due'),
      )
    }
    return rows.length
  }

  return {
    /**
     * Starts a saga in `tx` (its first command goes out if and only if `tx` commits); a saga with this id
     * already is returned as it is (`created: false`).
     */
    async start<I>(tx: Transaction, start: StartSaga<I>): Promise<{ created: boolean; saga: SagaInstance }> {
      const definition = definitionOf(start.type) as SagaDefinition<never>
      const inserted = await tx.query(
        `INSERT INTO rxt_sagas (id, type, type_version, tenant_id, status, state, version)
         VALUES ($1, $2, $3, $4, 'running', $5::jsonb, 0) ON CONFLICT (id) DO NOTHING`,
        [start.id, start.type, definition.version, start.tenantId, JSON.stringify(initialState)],
      )
      if (inserted.rowCount === 0) {
        const row = await lockRow(tx, start.id)
        if (row === undefined) throw new ConflictError(`saga ${start.id} is being started`)
        if (row.type !== start.type)
          throw new ConflictError(`saga ${start.id} is a ${row.type}, not a ${start.type}`)
        return { created: false, saga: instanceOf(row) }
      }
      await advance(tx, start.id, async (s) => {
        s.record({ kind: 'started', input: start.input, tenantId: start.tenantId })
        await s.timer('deadline', 0, 0, 'forward', definition.timeoutMs ?? defaultTimeoutMs)
        await s.enter(0, 1)
      })
      return { created: true, saga: instanceOf((await lockRow(tx, start.id)) as Row) }
    },

    /** Cancels a running saga: what it did is undone, last first; it ends `cancelled`. */
    async cancel(id: string, by: string | null = null): Promise<SagaInstance> {
      return db.transaction(async (tx) => {
        const state = await advance(tx, id, async (s) => {
          if (s.state.status !== 'running')
            throw new ConflictError(`saga ${id} is ${s.state.status}; only a running saga can be cancelled`)
          s.record({ kind: 'cancel-requested', by })
          await s.compensate(
            { step: null, code: 'cancelled', reason: `cancelled${by === null ? '' : ` by ${by}`}` },
            true,
          )
        })
        if (state === undefined) throw new NotFoundError(`no saga ${id}`)
        return instanceOf((await lockRow(tx, id)) as Row)
      })
    },

    /** A saga as it is; `on`: read in that transaction (a transition's observer reads other sagas so). */
    async get(id: string, tenantId?: string, on: Queryable = db): Promise<SagaInstance> {
      const { rows } = await on.query<Row & Record<string, unknown>>(
        'SELECT * FROM rxt_sagas WHERE id = $1',
        [id],
      )
      const row = rows[0]
      if (row === undefined || (tenantId !== undefined && row.tenant_id !== tenantId))
        throw new NotFoundError(`no saga ${id}`)
      return instanceOf(row)
    },

    async history(id: string): Promise<SagaHistoryEntry[]> {
      const { rows } = await db.query<{ seq: number; at: Date | string; event: SagaEvent | string }>(
        'SELECT seq, at, event FROM rxt_saga_history WHERE saga_id = $1 ORDER BY seq',
        [id],
      )
      return rows.map((r) => ({ seq: r.seq, at: new Date(r.at), event: parsed(r.event) }))
    },

    /** The state folded from the saga's history alone (what the stored state must equal). */
    async rebuild(id: string): Promise<SagaState> {
      const saga = await this.get(id)
      const events = (await this.history(id)).map((h) => h.event)
      return fold(definitionOf(saga.type, saga.typeVersion) as SagaDefinition<never>, events)
    },

    /** The context's handler of every event its sagas are settled by (it holds its key after a dead letter). */
    handlers(): MessageHandler[] {
      const types = [
        ...new Set(
          [...versions.values()]
            .flatMap((known) => [...known.values()])
            .flatMap((d) => settlingTypes(d as SagaDefinition<never>)),
        ),
      ]
      if (types.length === 0) return []
      return [
        {
          id: 'sagas',
          types,
          onDeadLetter: 'hold',
          handle: async (message, { tx }) => {
            await answered(tx, message)
          },
        },
      ]
    },

    /** Fires due timers now (the job does it every `timerPollMs`). */
    fireDue,

    /** The periodic work: due timers, on every replica (a timer fires once: its row is taken in the transition). */
    job: {
      name: 'saga-timers',
      everyMs: timerPollMs,
      atStart: true,
      run: () => fireDue(),
    } satisfies ContextJob,
  }
}
export type SagaEngine = ReturnType<typeof createSagaEngine>
