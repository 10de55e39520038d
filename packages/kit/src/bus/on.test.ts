// Typed handlers: `on(contract, …)` types the payload by its contract, `on([…], …)` types the message as
// the union of its contracts' messages; both run on the bus as any handler does, on every transport.
import {
  type Envelope,
  type MessageOf,
  type ProjectCreated,
  ProjectCreatedMessage,
  type ProjectUpdated,
  ProjectUpdatedMessage,
  RepoVerifiedMessage,
} from '@rxt/contracts'
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest'
import type { ContextDb } from '../db/index.ts'
import { assertNever, InputError } from '../errors.ts'
import { openBusContext, type TransportFixture, transportTargets, until } from '../testing/bus.ts'
import { type Bus, createBus, type HandlerContext, type MessageHandler } from './bus.ts'
import { testBusOptions } from './conformance.fixtures.ts'
import { handlerIdOf, on, tenantOfMessage } from './on.ts'

describe('on: the types', () => {
  it('gives a handler of one contract its payload, the context and the message, typed', () => {
    const handler = on(ProjectCreatedMessage, (data, context, message) => {
      expectTypeOf(data).toEqualTypeOf<ProjectCreated>()
      expectTypeOf(data.repo).toEqualTypeOf<string | null>()
      expectTypeOf(context).toEqualTypeOf<HandlerContext>()
      expectTypeOf(message.type).toEqualTypeOf<'evt.project.created'>()
      expectTypeOf(message.data).toEqualTypeOf<ProjectCreated>()
      expectTypeOf(message.tenantId).toEqualTypeOf<string | null>()
      // @ts-expect-error: evt.project.created has no field `after`
      void data.after
    })
    expectTypeOf(handler).toEqualTypeOf<MessageHandler>()
  })

  it('gives a handler of several contracts their messages as a union discriminated by type', () => {
    on([ProjectCreatedMessage, ProjectUpdatedMessage], { id: 'projects' }, (message) => {
      expectTypeOf(message).toEqualTypeOf<
        MessageOf<typeof ProjectCreatedMessage> | MessageOf<typeof ProjectUpdatedMessage>
      >()
      expectTypeOf(message.type).toEqualTypeOf<'evt.project.created' | 'evt.project.updated'>()
      switch (message.type) {
        case ProjectCreatedMessage.type:
          expectTypeOf(message.data).toEqualTypeOf<ProjectCreated>()
          return
        case 'evt.project.updated':
          expectTypeOf(message.data).toEqualTypeOf<ProjectUpdated>()
          return
        default:
          assertNever(message)
      }
    })
  })

  it('refuses at compile time what would not hold at run time', () => {
    // Checked by tsc, never run: each call is an error the compiler must report.
    const refused = () => {
      // @ts-expect-error: a handler of several contracts names its id
      on([ProjectCreatedMessage, ProjectUpdatedMessage], (message) => void message)
      // @ts-expect-error: a handler of one contract is given the payload, not the envelope
      on(ProjectCreatedMessage, (data: Envelope<ProjectCreated>) => void data)
      // @ts-expect-error: the payload of evt.project.created is not evt.repo.verified's
      on(ProjectCreatedMessage, (data: { installationId: string }) => void data)
      // @ts-expect-error: a handler returns nothing or a promise, not a value it forgot to await
      on(ProjectCreatedMessage, () => 42)
      // @ts-expect-error: a type string is not a contract
      on('evt.project.created', () => undefined)
    }
    expectTypeOf(refused).toBeFunction()
  })
})

describe('on: the handler it makes', () => {
  it('subscribes to its contracts’ types, with an id from the type unless it names one', () => {
    const one = on(RepoVerifiedMessage, () => undefined)
    expect(one).toMatchObject({ id: 'repo-verified', types: ['evt.repo.verified'] })
    expect(on(RepoVerifiedMessage, { id: 'verified' }, () => undefined).id).toBe('verified')
    const several = on([ProjectCreatedMessage, ProjectUpdatedMessage], { id: 'projects' }, () => undefined)
    expect(several).toMatchObject({ id: 'projects', types: ['evt.project.created', 'evt.project.updated'] })
    expect(handlerIdOf(ProjectUpdatedMessage)).toBe('project-updated')
    expect(() => on([] as never, { id: 'none' }, () => undefined)).toThrow(InputError)
    const withoutId = on as (contracts: unknown, handle: () => undefined) => MessageHandler
    expect(() => withoutId([ProjectCreatedMessage], () => undefined)).toThrow(
      'a handler of several contracts names its id',
    )
    // Acting after commit is for one contract: a union handler given `act` is refused, not silently stripped.
    const withAct = on as (contracts: unknown, options: unknown, handle: () => undefined) => MessageHandler
    expect(() =>
      withAct(
        [ProjectCreatedMessage, ProjectUpdatedMessage],
        { id: 'x', act: async () => 1 },
        () => undefined,
      ),
    ).toThrow('a handler of several contracts cannot act after commit')
    // One contract: its options reach the handler.
    const acting = on(
      RepoVerifiedMessage,
      { id: 'v', act: async () => 7, timeoutMs: 500, onDeadLetter: 'hold' },
      () => undefined,
    )
    expect(acting).toMatchObject({ id: 'v', timeoutMs: 500, onDeadLetter: 'hold' })
    expect(typeof acting.act).toBe('function')
  })

  it('reads the tenant of a message, and dead-letters (InputError) one that has none', () => {
    const message = { id: 'm-1', type: 'evt.repo.verified', tenantId: 'org-1' }
    expect(tenantOfMessage(message)).toBe('org-1')
    expect(() => tenantOfMessage({ ...message, tenantId: null })).toThrow(
      'evt.repo.verified m-1 carries no tenant',
    )
    expect(() => tenantOfMessage({ ...message, tenantId: null })).toThrow(InputError)
  })
})

for (const target of transportTargets()) {
  describe.skipIf(target.skipped !== undefined)(`typed handlers on the bus: ${target.name}`, () => {
    let fx: TransportFixture
    let producer: ContextDb
    let consumer: ContextDb
    let bus: Bus

    beforeEach(async () => {
      fx = await target.create()
      producer = await openBusContext(fx.database, 'producer')
      consumer = await openBusContext(fx.database, 'consumer')
      bus = createBus(testBusOptions(await fx.newTransport()))
    })
    afterEach(async () => {
      await bus.stop().catch(() => undefined)
      await fx.dispose()
    })

    it('hands each handler the payload and the message of the types it was declared with', async () => {
      bus.attach('consumer', consumer)
      const created: { data: ProjectCreated; id: string; tenantId: string }[] = []
      const seen: string[] = []
      await bus.subscribe('consumer', [
        on(ProjectCreatedMessage, (data, _context, message) => {
          created.push({ data, id: message.id, tenantId: tenantOfMessage(message) })
        }),
        on([ProjectCreatedMessage, ProjectUpdatedMessage], { id: 'projects' }, async (message, { tx }) => {
          await tx.query('SELECT 1')
          switch (message.type) {
            case ProjectCreatedMessage.type:
              seen.push(`created ${message.data.slug}`)
              return
            case ProjectUpdatedMessage.type:
              seen.push(`updated ${message.data.changed.join(',')} by ${message.data.updatedBy}`)
              return
            default:
              assertNever(message)
          }
        }),
      ])
      await bus.start()
      expect((await bus.consumers()).map((c) => c.consumer).sort()).toEqual([
        'consumer.project-created',
        'consumer.projects',
      ])
      const ctx = bus.attach('producer', producer)
      const [first] = await producer.transaction(async (tx) => [
        await ctx.publish(tx, {
          type: 'evt.project.created',
          tenantId: 'org-7',
          data: { projectId: 'p-1', slug: 'shop', name: 'Shop', repo: 'acme/shop', createdBy: 'u-1' },
        }),
        await ctx.publish(tx, {
          type: 'evt.project.updated',
          tenantId: 'org-7',
          data: {
            projectId: 'p-1',
            changed: ['name'],
            envIds: [],
            before: { name: 'Shop' },
            after: { name: 'The Shop' },
            updatedBy: 'user:u-1',
          },
        }),
      ])
      await until(() => seen.length === 2 && created.length === 1, 20_000, 'both handlers')
      expect(created).toEqual([
        {
          data: { projectId: 'p-1', slug: 'shop', name: 'Shop', repo: 'acme/shop', createdBy: 'u-1' },
          id: first?.id,
          tenantId: 'org-7',
        },
      ])
      expect(seen).toEqual(['created shop', 'updated name by user:u-1'])
    })

    it('refuses a handler declared with a contract at another version than the catalog’s', async () => {
      bus.attach('consumer', consumer)
      const older = { ...ProjectUpdatedMessage, version: 1 }
      await expect(bus.subscribe('consumer', [on(older, () => undefined)])).rejects.toThrow(
        "consumer.project-updated is declared for evt.project.updated v1 (the bus's catalog has v2)",
      )
    })
  })
}
