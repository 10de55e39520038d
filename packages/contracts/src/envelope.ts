import Type, { type Static, type TSchema } from 'typebox'

/** `cmd.<family>…` (imperative) or `evt.<family>…` (past tense): lower-case dot-separated tokens. */
export const messageTypePattern = '^(cmd|evt)(\\.[a-z][a-z0-9-]*)+$'

/**
 * The one envelope every command and event travels in. `data` is the message's payload, validated
 * against the schema of its `type` and `version`.
 */
export const Envelope = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'UUIDv7: unique, and ordered by creation time' }),
    type: Type.String({ pattern: messageTypePattern, description: 'e.g. evt.deploy.ready' }),
    version: Type.Integer({ minimum: 1, description: "The schema version of this type's payload" }),
    time: Type.String({ format: 'date-time', description: 'When the message was created (UTC)' }),
    tenantId: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()], {
      description: 'The tenant the message belongs to; null for platform-wide messages',
    }),
    correlationId: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'The request or workflow every message of one flow shares',
    }),
    causationId: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()], {
      description: 'The id of the message that caused this one; null when a request did',
    }),
    actor: Type.Optional(
      Type.String({
        pattern: '^(user|api-key|service):[A-Za-z0-9._-]{1,128}$',
        description:
          'Who started the flow: user:<id>, api-key:<id> or service:<name>; carried from a request to every message it causes, and from a message to the ones it causes. Absent when the platform started the work itself',
      }),
    ),
    idempotencyKey: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Stable across retries of the same intent; consumers may dedupe on it',
    }),
    key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'Ordering key: messages with one key are handled in publish order (default: tenantId)',
      }),
    ),
    data: Type.Unknown({ description: 'The payload: see the message type' }),
  },
  { $id: 'Envelope', additionalProperties: false },
)
export type Envelope<D = unknown> = Omit<Static<typeof Envelope>, 'data'> & { readonly data: D }

export const MessageKind = { command: 'command', event: 'event' } as const
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind]

/**
 * One message type at its current version: what it means, its payload schema and a sample. Each is
 * exported as `<Payload>Message` (`ProjectCreatedMessage` of the payload `ProjectCreated`): the key a
 * typed handler is declared with, its `type` a literal.
 */
export interface MessageContract<S extends TSchema = TSchema, T extends string = string> {
  readonly type: T
  readonly version: number
  readonly kind: MessageKind
  readonly summary: string
  /** Which context publishes it (`*` for several). */
  readonly publishedBy: string
  readonly schema: S
  /** A valid sample payload (tests validate it; the AsyncAPI document shows it). */
  readonly fixture: Static<S>
}

/** The payload of a contract's messages: the static type of its schema. */
export type PayloadOf<C extends MessageContract> = Static<C['schema']>

/**
 * A message of a contract: the envelope with its `type` and `data` typed. Of a union of contracts, the
 * union of their messages, discriminated by `type`.
 */
export type MessageOf<C extends MessageContract> = C extends MessageContract
  ? Omit<Envelope, 'type' | 'data'> & { readonly type: C['type']; readonly data: PayloadOf<C> }
  : never

/** Every message the platform speaks, by type. */
export interface MessageCatalog {
  readonly messages: ReadonlyMap<string, MessageContract>
}

/** Builds a catalog; a type listed twice is a programming error. */
export function createCatalog(contracts: readonly MessageContract[]): MessageCatalog {
  const messages = new Map<string, MessageContract>()
  for (const contract of contracts) {
    if (messages.has(contract.type)) throw new Error(`message type ${contract.type} is defined twice`)
    messages.set(contract.type, contract)
  }
  return { messages }
}
