import type { Envelope, MessageContract, MessageOf, PayloadOf } from '@rxt/contracts'
import { InputError } from '../errors.ts'
import type { ActContext, HandlerContext, MessageHandler } from './handling.ts'

/** What a typed handler returns: nothing (it ran synchronously) or a promise; not a value left unawaited. */
// biome-ignore lint/suspicious/noConfusingVoidType: void is what a function without a return statement returns
export type HandlerResult = Promise<unknown> | void

/** The handler of one contract: its payload typed, then the context, then the whole message. */
export type PayloadHandler<C extends MessageContract, O = unknown> = (
  data: PayloadOf<C>,
  context: HandlerContext<O>,
  message: MessageOf<C>,
) => HandlerResult

/** The handler of several contracts: the message, a union discriminated by `type`. */
export type UnionHandler<C extends MessageContract> = (
  message: MessageOf<C>,
  context: HandlerContext,
) => HandlerResult

export interface HandlerOptions {
  /** Unique within the context; the durable consumer is `<context>.<id>`. */
  readonly id: string
  /** What a dead letter does to the rest of its key (MessageHandler.onDeadLetter): `skip` by default. */
  readonly onDeadLetter?: 'skip' | 'hold'
  /** How long one attempt may take (MessageHandler.timeoutMs): the bus's default unless given. */
  readonly timeoutMs?: number
}

/**
 * A handler of one contract that acts after commit (MessageHandler.act): `act` does the outside work
 * with no transaction open and resolves with its outcome; the handler records it (`context.outcome`).
 */
export interface ActingOptions<C extends MessageContract, O> extends HandlerOptions {
  readonly act: (data: PayloadOf<C>, context: ActContext, message: MessageOf<C>) => Promise<O>
}

/**
 * The id a handler of one contract has unless it names one: the type without its `evt.` or `cmd.`,
 * dots as dashes (`evt.repo.verified` → `repo-verified`).
 */
export const handlerIdOf = (contract: MessageContract) =>
  contract.type.replace(/^(evt|cmd)\./, '').replaceAll('.', '-')

/**
 * A typed consumer of one or more message contracts (the constants `@rxt/contracts` exports, e.g.
 * `ProjectCreatedMessage`): a `MessageHandler` whose types are the contracts' and whose handler is
 * given the payload as its contract types it. The bus validates every payload against its catalog on
 * consume, and refuses at `subscribe` a handler whose contract is at another version than the
 * catalog's, so the types hold.
 *
 * ```ts
 * on(RepoVerifiedMessage, (data, { tx }, message) =>
 *   registry.repositoryVerified(tx, tenantOfMessage(message), data.projectId),
 * )
 * on(RepoVerifiedMessage, { id: 'verified-repos' }, (data, ctx) => …)
 * on([ProjectCreatedMessage, ProjectUpdatedMessage], { id: 'project-routes' }, (message, ctx) => {
 *   switch (message.type) {
 *     case ProjectCreatedMessage.type: return created(message.data) // data: ProjectCreated
 *     case ProjectUpdatedMessage.type: return updated(message.data) // data: ProjectUpdated
 *     default: return assertNever(message)
 *   }
 * })
 * ```
 *
 * The id of a handler of one contract defaults to `handlerIdOf(contract)`; a handler of several names
 * its own. Changing an id starts a new durable consumer, which sees only what is published from then on.
 */
export function on<C extends MessageContract>(contract: C, handle: PayloadHandler<C>): MessageHandler
export function on<C extends MessageContract, O>(
  contract: C,
  options: ActingOptions<C, O>,
  handle: PayloadHandler<C, O>,
): MessageHandler
export function on<C extends MessageContract>(
  contract: C,
  options: HandlerOptions,
  handle: PayloadHandler<C>,
): MessageHandler
export function on<const Cs extends readonly [MessageContract, ...MessageContract[]]>(
  contracts: Cs,
  options: HandlerOptions,
  handle: UnionHandler<Cs[number]>,
): MessageHandler
export function on(
  contracts: MessageContract | readonly MessageContract[],
  optionsOrHandle: HandlerOptions | ActingOptions<MessageContract, unknown> | PayloadHandler<MessageContract>,
  handle?: PayloadHandler<MessageContract> | UnionHandler<MessageContract>,
): MessageHandler {
  const options = typeof optionsOrHandle === 'function' ? undefined : optionsOrHandle
  const settings = {
    ...(options?.onDeadLetter === undefined ? {} : { onDeadLetter: options.onDeadLetter }),
    ...(options?.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  }
  const fn = (typeof optionsOrHandle === 'function' ? optionsOrHandle : handle) as (
    ...args: unknown[]
  ) => HandlerResult
  if (Array.isArray(contracts)) {
    const list = contracts as readonly MessageContract[]
    if (list.length === 0) throw new InputError('on([...]) takes at least one contract')
    if (options !== undefined && 'act' in options)
      throw new InputError(
        `a handler of several contracts cannot act after commit: on([${list.map((c) => c.type).join(', ')}], { act }) — give each contract its own handler`,
      )
    if (options?.id === undefined)
      throw new InputError(
        `a handler of several contracts names its id: on([${list.map((c) => c.type).join(', ')}], { id }, handle)`,
      )
    return {
      id: options.id,
      types: list.map((c) => c.type),
      contracts: list,
      ...settings,
      handle: async (message: Envelope, context: HandlerContext) => {
        await fn(message, context)
      },
    }
  }
  const contract = contracts as MessageContract
  const act =
    options !== undefined && 'act' in options
      ? (options.act as (data: unknown, context: ActContext, message: Envelope) => Promise<unknown>)
      : undefined
  return {
    id: options?.id ?? handlerIdOf(contract),
    types: [contract.type],
    contracts: [contract],
    ...settings,
    ...(act === undefined
      ? {}
      : { act: (message: Envelope, context: ActContext) => act(message.data, context, message) }),
    handle: async (message: Envelope, context: HandlerContext) => {
      await fn(message.data, context, message)
    },
  }
}

/**
 * The tenant of a message that must have one; an InputError (the message is dead-lettered, not
 * retried) when it is platform-wide.
 */
export function tenantOfMessage(message: Pick<Envelope, 'tenantId' | 'type' | 'id'>): string {
  if (message.tenantId === null)
    throw new InputError(`${message.type} ${message.id} carries no tenant; its handler needs one`)
  return message.tenantId
}
