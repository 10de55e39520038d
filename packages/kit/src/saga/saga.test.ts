// The saga engine's conformance suite, on every transport and database the bus runs on (the Postgres log
// on PGlite and on PostgreSQL, NATS): a saga of three steps against a worker context that does what each
// command asks (and records every command it was given), on the real bus.
import { catalog, createCatalog, defineMessage, type Envelope, MessageKind } from '@rxt/contracts'
import Type from 'typebox'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Bus, createBus, type MessageHandler } from '../bus/bus.ts'
import { testBusOptions } from '../bus/conformance.fixtures.ts'
import type { ContextDb } from '../db/index.ts'
import { migration } from '../db/migrations.ts'
import { createLogger } from '../log.ts'
import { openBusContext, type TransportFixture, transportTargets, until } from '../testing/bus.ts'
import { defineSaga, type SagaDefinition } from './define.ts'
import { createSagaEngine, type SagaEngine } from './engine.ts'

const Work = Type.Object({
  sagaId: Type.String(),
  step: Type.String(),
  attempt: Type.Integer(),
  undo: Type.Boolean(),
})
const Worked = Type.Object({
  sagaId: Type.String(),
  step: Type.String(),
  attempt: Type.Integer(),
  undo: Type.Boolean(),
})
const WorkFailed = Type.Object({
  sagaId: Type.String(),
  step: Type.String(),
  attempt: Type.Integer(),
  undo: Type.Boolean(),
  retryable: Type.Boolean(),
})
const fixture = { sagaId: 's', step: 'a', attempt: 1, undo: false }
const WorkMessage = defineMessage({
  type: 'cmd.sagatest.work',
  version: 1,
  kind: MessageKind.command,
  summary: 'Do (or undo) a step of a test saga',
  publishedBy: 'sagatest',
  schema: Work,
  fixture,
})
const WorkedMessage = defineMessage({
  type: 'evt.sagatest.worked',
  version: 1,
  kind: MessageKind.event,
  summary: 'A test saga step was done (or undone)',
  publishedBy: 'sagatest',
  schema: Worked,
  fixture,
})
const WorkFailedMessage = defineMessage({
  type: 'evt.sagatest.work.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'A test saga step failed',
  publishedBy: 'sagatest',
  schema: WorkFailed,
  fixture: { ...fixture, retryable: false },
})
const testCatalog = createCatalog([
  ...catalog.messages.values(),
  WorkMessage,
  WorkedMessage,
  WorkFailedMessage,
])

/** What the worker does with one command: answer, fail (retryable or not), say nothing, answer twice. */
type Behaviour = 'ok' | 'fail' | 'fail-retryable' | 'silent' | 'twice'
/** The worker's script: by `<sagaId>:<step>[:undo]:<attempt>`, else `ok`. */
type Script = Map<string, Behaviour>

const settlers = {
  [WorkedMessage.type]: (event: Envelope) => ({
    ok: true as const,
    result: { by: (event.data as { step: string }).step },
  }),
  [WorkFailedMessage.type]: (event: Envelope) => {
    const data = event.data as { step: string; retryable: boolean }
    return {
      ok: false as const,
      code: 'worker-refused',
      reason: `the worker refused ${data.step}`,
      retryable: data.retryable,
    }
  },
}
const step = (
  name: string,
  options: { irreversible?: boolean; timeoutMs?: number; attempts?: number } = {},
) => ({
  name,
  timeoutMs: options.timeoutMs ?? 10_000,
  retry: { maxAttempts: options.attempts ?? 1, backoff: { baseMs: 20, maxMs: 50 } },
  invoke: (ctx: { sagaId: string; attempt: number }) => ({
    type: WorkMessage.type,
    data: { sagaId: ctx.sagaId, step: name, attempt: ctx.attempt, undo: false },
  }),
  settle: settlers,
  ...(options.irreversible === true
    ? { irreversible: true as const }
    : {
        compensate: {
          timeoutMs: 10_000,
          invoke: (ctx: { sagaId: string; attempt: number }) => ({
            type: WorkMessage.type,
            data: { sagaId: ctx.sagaId, step: name, attempt: ctx.attempt, undo: true },
          }),
          settle: settlers,
        },
      }),
})

const threeSteps = (options: Parameters<typeof step>[1] = {}): SagaDefinition<{ n: number }> =>
  defineSaga({ type: 'three', version: 1, steps: [step('a'), step('b', options), step('c')] })

for (const target of transportTargets()) {
  describe.skipIf(target.skipped !== undefined)(`saga engine: ${target.name}`, () => {
    let fx: TransportFixture
    let orch: ContextDb
    let worker: ContextDb
    const stops: (() => Promise<void>)[] = []

    /** One process: a bus with the saga engine's context and the worker's. */
    const processWith = async (
      definition: SagaDefinition<{ n: number }> | SagaDefinition<{ n: number }>[],
      script: Script,
      options: { worker?: boolean } = {},
    ) => {
      const bus: Bus = createBus({ ...testBusOptions(await fx.newTransport()), catalog: testCatalog })
      const ctx = bus.attach('orch', orch)
      const engine = createSagaEngine({
        context: 'orch',
        db: orch,
        bus: ctx,
        definitions: Array.isArray(definition) ? definition : [definition],
        log: createLogger({ level: 'silent' }),
        timerPollMs: 50,
        observe: async (tx, saga, events) => {
          for (const event of events)
            await tx.query('INSERT INTO observed (saga_id, kind, status) VALUES ($1, $2, $3)', [
              saga.id,
              event.kind,
              saga.status,
            ])
        },
      })
      await bus.subscribe('orch', engine.handlers())
      if (options.worker !== false) {
        bus.attach('worker', worker)
        const handler: MessageHandler = {
          id: 'work',
          types: [WorkMessage.type],
          handle: async (message, { tx, publish }) => {
            const data = message.data as { sagaId: string; step: string; attempt: number; undo: boolean }
            const name = `${data.sagaId}:${data.step}${data.undo ? ':undo' : ''}:${data.attempt}`
            await tx.query('INSERT INTO calls (name) VALUES ($1)', [name])
            const behaviour = script.get(name) ?? 'ok'
            if (behaviour === 'silent') return
            const answer =
              behaviour === 'ok' || behaviour === 'twice'
                ? { type: WorkedMessage.type, data }
                : {
                    type: WorkFailedMessage.type,
                    data: { ...data, retryable: behaviour === 'fail-retryable' },
                  }
            for (let i = 0; i < (behaviour === 'twice' ? 2 : 1); i++)
              await publish({ ...answer, tenantId: 't', key: data.sagaId })
          },
        }
        await bus.subscribe('worker', [handler])
      }
      await bus.start()
      const timers = setInterval(() => void engine.fireDue().catch(() => undefined), 50)
      const stop = async () => {
        clearInterval(timers)
        await bus.stop()
      }
      stops.push(stop)
      return { bus, engine, stop }
    }

    const start = (engine: SagaEngine, id: string) =>
      orch.transaction((tx) => engine.start(tx, { type: 'three', id, input: { n: 1 }, tenantId: 't' }))
    const calls = async () =>
      (await worker.query<{ name: string }>('SELECT name FROM calls ORDER BY n')).rows.map((r) => r.name)
    const finished = (engine: SagaEngine, id: string, ms = 20_000) =>
      until(
        async () => ['succeeded', 'failed', 'cancelled'].includes((await engine.get(id)).status),
        ms,
        `saga ${id} to finish`,
      )
    const kinds = async (engine: SagaEngine, id: string) =>
      (await engine.history(id)).map((h) => h.event.kind)

    beforeEach(async () => {
      fx = await target.create()
      orch = await openBusContext(fx.database, 'orch', [
        migration(
          '0001_observed.sql',
          'CREATE TABLE observed (n serial PRIMARY KEY, saga_id text NOT NULL, kind text NOT NULL, status text NOT NULL)',
        ),
      ])
      worker = await openBusContext(fx.database, 'worker', [
        migration('0001_calls.sql', 'CREATE TABLE calls (n serial PRIMARY KEY, name text NOT NULL)'),
      ])
    })
    afterEach(async () => {
      for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined)
      await fx.dispose()
    })

    it('runs the steps in order, keeps their results, and a second start returns the same saga', async () => {
      const { engine } = await processWith(threeSteps(), new Map())
      const first = await start(engine, 'saga-1')
      expect(first.created).toBe(true)
      await finished(engine, 'saga-1')
      const saga = await engine.get('saga-1')
      expect(saga).toMatchObject({
        status: 'succeeded',
        results: { a: { by: 'a' }, b: { by: 'b' }, c: { by: 'c' } },
      })
      expect(await calls()).toEqual(['saga-1:a:1', 'saga-1:b:1', 'saga-1:c:1'])
      const again = await start(engine, 'saga-1')
      expect(again.created).toBe(false)
      expect(again.saga.status).toBe('succeeded')
      expect(await kinds(engine, 'saga-1')).toEqual([
        'started',
        'step-started',
        'step-succeeded',
        'step-started',
        'step-succeeded',
        'step-started',
        'step-succeeded',
        'succeeded',
      ])
      // The stored state is the projection of the history.
      const { rows } = await orch.query<{ state: unknown }>('SELECT state FROM rxt_sagas WHERE id = $1', [
        'saga-1',
      ])
      expect(await engine.rebuild('saga-1')).toEqual(rows[0]?.state)
      expect(await calls()).toHaveLength(3)
      expect(
        Number((await orch.query<{ n: string }>('SELECT count(*) AS n FROM rxt_saga_timers')).rows[0]?.n),
      ).toBe(0)
      // The observer saw every event once, in order, with the status each transition left.
      const observed = await orch.query<{ kind: string; status: string }>(
        "SELECT kind, status FROM observed WHERE saga_id = 'saga-1' ORDER BY n",
      )
      expect(observed.rows.map((r) => r.kind)).toEqual(await kinds(engine, 'saga-1'))
      expect(observed.rows.at(-1)?.status).toBe('succeeded')
    })

    it('undoes the steps that succeeded, last first, when a later one fails; the failure names its step', async () => {
      const { engine } = await processWith(threeSteps(), new Map([['saga-2:c:1', 'fail']]))
      await start(engine, 'saga-2')
      await finished(engine, 'saga-2')
      const saga = await engine.get('saga-2')
      expect(saga.status).toBe('failed')
      expect(saga.failure).toMatchObject({
        step: 'c',
        code: 'worker-refused',
        reason: 'the worker refused c',
      })
      expect(saga.compensationFailures).toEqual([])
      expect(await calls()).toEqual([
        'saga-2:a:1',
        'saga-2:b:1',
        'saga-2:c:1',
        'saga-2:b:undo:1',
        'saga-2:a:undo:1',
      ])
      const history = (await engine.history('saga-2')).map((h) => h.event)
      expect(
        history.filter((e) => e.kind === 'step-compensated').map((e) => ('step' in e ? e.step : -1)),
      ).toEqual([1, 0])
    })

    it('retries a retryable failure with a new command, and the saga goes on', async () => {
      const { engine } = await processWith(
        threeSteps({ attempts: 3 }),
        new Map<string, Behaviour>([['saga-3:b:1', 'fail-retryable']]),
      )
      await start(engine, 'saga-3')
      await finished(engine, 'saga-3')
      expect((await engine.get('saga-3')).status).toBe('succeeded')
      expect(await calls()).toEqual(['saga-3:a:1', 'saga-3:b:1', 'saga-3:b:2', 'saga-3:c:1'])
      expect(await kinds(engine, 'saga-3')).toContain('retry-scheduled')
    })

    it('times a silent step out, retries it, and ignores the late answer to the first attempt', async () => {
      const script: Script = new Map([['saga-4:b:1', 'silent']])
      // The timeout bounds the answered attempt too: long enough that a loaded machine answers b:2 in it.
      const { engine } = await processWith(threeSteps({ attempts: 2, timeoutMs: 2_000 }), script)
      await start(engine, 'saga-4')
      await finished(engine, 'saga-4')
      expect((await engine.get('saga-4')).status).toBe('succeeded')
      const history = (await engine.history('saga-4')).map((h) => h.event.kind)
      expect(history).toContain('step-timed-out')
      expect(await calls()).toEqual(['saga-4:a:1', 'saga-4:b:1', 'saga-4:b:2', 'saga-4:c:1'])
      // The first attempt's answer, arriving now, is recorded as stale and changes nothing.
      const { rows } = await orch.query<{ message_id: string }>(
        "SELECT message_id FROM rxt_saga_commands WHERE saga_id = 'saga-4' AND step = 1 AND attempt = 1",
      )
      const late = createBus({ ...testBusOptions(await fx.newTransport()), catalog: testCatalog })
      const ctx = late.attach('worker', worker)
      stops.push(() => late.stop())
      await late.start()
      await worker.transaction((tx) =>
        ctx.publish(tx, {
          type: WorkedMessage.type,
          data: { sagaId: 'saga-4', step: 'b', attempt: 1, undo: false },
          tenantId: 't',
          key: 'saga-4',
          causationId: rows[0]?.message_id as string,
        }),
      )
      await until(
        async () => (await kinds(engine, 'saga-4')).includes('answer-ignored'),
        10_000,
        'the late answer',
      )
      expect((await engine.get('saga-4')).status).toBe('succeeded')
    })

    it('records a failing compensation for a person and keeps the original failure', async () => {
      const { engine } = await processWith(
        threeSteps(),
        new Map<string, Behaviour>([
          ['saga-5:c:1', 'fail'],
          ['saga-5:b:undo:1', 'fail'],
        ]),
      )
      await start(engine, 'saga-5')
      await finished(engine, 'saga-5')
      const saga = await engine.get('saga-5')
      expect(saga.status).toBe('failed')
      expect(saga.failure).toMatchObject({ step: 'c', code: 'worker-refused' })
      expect(saga.compensationFailures).toEqual([
        { step: 'b', code: 'worker-refused', reason: 'the worker refused b' },
      ])
      // The rest is still undone.
      expect(await calls()).toEqual([
        'saga-5:a:1',
        'saga-5:b:1',
        'saga-5:c:1',
        'saga-5:b:undo:1',
        'saga-5:a:undo:1',
      ])
    })

    it('says an irreversible step is not undone', async () => {
      const { engine } = await processWith(
        threeSteps({ irreversible: true }),
        new Map<string, Behaviour>([['saga-6:c:1', 'fail']]),
      )
      await start(engine, 'saga-6')
      await finished(engine, 'saga-6')
      expect(await calls()).toEqual(['saga-6:a:1', 'saga-6:b:1', 'saga-6:c:1', 'saga-6:a:undo:1'])
      expect(await kinds(engine, 'saga-6')).toContain('not-undone')
    })

    it('cancels a saga waiting on a step: the step in flight and those before are undone; it ends cancelled', async () => {
      const { engine } = await processWith(
        threeSteps(),
        new Map<string, Behaviour>([['saga-7:b:1', 'silent']]),
      )
      await start(engine, 'saga-7')
      await until(async () => (await calls()).includes('saga-7:b:1'), 10_000, 'step b to be sent')
      const cancelling = await engine.cancel('saga-7', 'user:ada')
      expect(cancelling.status).toBe('compensating')
      await finished(engine, 'saga-7')
      expect((await engine.get('saga-7')).status).toBe('cancelled')
      expect(await calls()).toEqual(['saga-7:a:1', 'saga-7:b:1', 'saga-7:b:undo:1', 'saga-7:a:undo:1'])
      await expect(engine.cancel('saga-7')).rejects.toThrow(
        /is cancelled; only a running saga can be cancelled/,
      )
    })

    it('takes a duplicate answer once', async () => {
      const { engine } = await processWith(
        threeSteps(),
        new Map<string, Behaviour>([['saga-8:a:1', 'twice']]),
      )
      await start(engine, 'saga-8')
      await finished(engine, 'saga-8')
      await until(
        async () => (await kinds(engine, 'saga-8')).includes('answer-ignored'),
        10_000,
        'the second answer',
      )
      expect(await calls()).toEqual(['saga-8:a:1', 'saga-8:b:1', 'saga-8:c:1'])
      expect((await engine.get('saga-8')).status).toBe('succeeded')
    })

    it('runs a saga to its end on the version it started with, and starts new ones on the newest', async () => {
      // Version 1 waits on b when its process stops; the next process knows version 2, which has a step
      // x where version 1 has b.
      const script: Script = new Map([['up-1:b:1', 'silent']])
      const v1 = threeSteps({ timeoutMs: 2_000, attempts: 2 })
      const v2 = defineSaga<{ n: number }>({
        type: 'three',
        version: 2,
        steps: [step('a'), step('x'), step('b'), step('c')],
      })
      const first = await processWith(v1, script)
      await start(first.engine, 'up-1')
      await until(async () => (await calls()).includes('up-1:b:1'), 10_000, 'b sent')
      await first.stop()
      const next = await processWith([v1, v2], script)
      await finished(next.engine, 'up-1')
      expect(await next.engine.get('up-1')).toMatchObject({ status: 'succeeded', typeVersion: 1 })
      expect((await calls()).filter((c) => c.startsWith('up-1:'))).toEqual([
        'up-1:a:1',
        'up-1:b:1',
        'up-1:b:2',
        'up-1:c:1',
      ])
      await start(next.engine, 'up-2')
      await finished(next.engine, 'up-2')
      expect((await next.engine.get('up-2')).typeVersion).toBe(2)
      expect((await calls()).filter((c) => c.startsWith('up-2:'))).toEqual([
        'up-2:a:1',
        'up-2:x:1',
        'up-2:b:1',
        'up-2:c:1',
      ])
    })

    it('resumes after its process stopped at a step boundary, and two replicas never send a step twice', async () => {
      // The engine's process stops while step b's command is out; the worker answers meanwhile.
      const script: Script = new Map()
      const first = await processWith(threeSteps(), script)
      const ids = Array.from({ length: 12 }, (_, i) => `race-${i}`)
      for (const id of ids) await start(first.engine, id)
      await first.stop()
      const a = await processWith(threeSteps(), script)
      const b = await processWith(threeSteps(), script, { worker: false })
      for (const id of ids) await finished(a.engine, id, 30_000)
      for (const id of ids) expect((await b.engine.get(id)).status).toBe('succeeded')
      const all = await calls()
      expect(all).toHaveLength(ids.length * 3)
      expect(new Set(all).size).toBe(all.length)
    })
  })
}
