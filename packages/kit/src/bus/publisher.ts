import { type Envelope, type MessageCatalog, validateEnvelope, validatePayload } from '@rxt/contracts'
import type { Clock } from '../clock.ts'
import type { Transaction } from '../db/index.ts'
import { InputError, type Violation } from '../errors.ts'
import { newId } from '../ids.ts'
import { currentScope } from '../scope.ts'

/** What a context publishes: the rest of the envelope is filled in from the scope and the catalog. */
export interface PublishInput<D = unknown> {
  readonly type: string
  readonly data: D
  readonly tenantId: string | null
  /** Ordering key (default: the tenant, or `platform`). */
  readonly key?: string
  /** Stable across retries of one intent (default: the message id). */
  readonly idempotencyKey?: string
  /** Default: the catalog's current version of the type. */
  readonly version?: number
  readonly correlationId?: string
  readonly causationId?: string | null
  /** Default: the message being handled's actor, else the scope's (the request's caller). */
  readonly actor?: string
  /**
   * Delayed delivery: the message waits in the outbox (durably) and is published once this time has
   * come; it then takes its place in its key's order (messages of the key published meanwhile without a
   * delay go ahead of it). At most `maxDelayMs` ahead; a time in the past publishes at once.
   */
  readonly notBefore?: Date
}

/** The longest delay a message may be published with (a timer further out belongs in a table of its own). */
export const maxDelayMs = 30 * 24 * 3_600_000

/** The largest envelope the bus carries (NATS' default max_payload is 1 MiB, with headers). */
export const maxMessageBytes = 512 * 1024

/** What every transport can carry: a key that is a header value, a body under the size limit. */
function transportViolations(envelope: Envelope, body: string): Violation[] {
  const problems: Violation[] = []
  if (envelope.key !== undefined && !/^[\x21-\x7e]+$/.test(envelope.key)) {
    problems.push({ path: '/key', message: 'must be printable ASCII without spaces' })
  }
  const bytes = Buffer.byteLength(body)
  if (bytes > maxMessageBytes) {
    problems.push({ path: '/data', message: `makes a message of ${bytes} bytes; at most ${maxMessageBytes}` })
  }
  return problems
}

/** A context's outbox: its name, and how to wake its relay once a transaction committed. */
export interface OutboxOwner {
  readonly context: string
  readonly kick: (dueAt?: number) => void
}

/**
 * The publish side of the bus: fills in the envelope (id, time, correlation and causation from the
 * scope or the message being handled), validates envelope, payload, key and size, and writes the
 * outbox rows in the caller's transaction.
 */
export function createPublisher(options: { readonly catalog: MessageCatalog; readonly clock: Clock }) {
  const { catalog, clock } = options

  const envelopeOf = <D>(input: PublishInput<D>, cause?: Envelope): Envelope<D> => {
    const contract = catalog.messages.get(input.type)
    const id = newId()
    const scope = currentScope()
    const actor = input.actor ?? cause?.actor ?? scope?.actor
    return {
      id,
      type: input.type,
      version: input.version ?? contract?.version ?? 1,
      time: clock.now().toISOString(),
      tenantId: input.tenantId,
      correlationId: input.correlationId ?? cause?.correlationId ?? scope?.correlationId ?? id,
      causationId: input.causationId !== undefined ? input.causationId : (cause?.id ?? null),
      ...(actor === undefined ? {} : { actor }),
      idempotencyKey: input.idempotencyKey ?? id,
      key: input.key ?? input.tenantId ?? 'platform',
      data: input.data,
    }
  }

  /** Every violation of an envelope and its payload against the catalog. */
  const violationsOf = (envelope: unknown): Violation[] => {
    const problems = validateEnvelope(envelope)
    if (problems.length > 0) return problems
    const e = envelope as Envelope
    return validatePayload(catalog, e.type, e.version, e.data)
  }

  /** Validates messages and writes them to the outbox in `tx`, in order, in one statement. */
  const publishAll = async (
    a: OutboxOwner,
    tx: Transaction,
    inputs: readonly PublishInput[],
    cause?: Envelope,
  ): Promise<Envelope[]> => {
    if (tx === undefined || typeof tx.afterCommit !== 'function' || tx.context !== a.context) {
      throw new InputError(
        `${a.context}: publish takes the context's open transaction (db.transaction(tx => …))`,
      )
    }
    const now = clock.now().getTime()
    for (const [i, input] of inputs.entries()) {
      const at = input.notBefore
      if (at === undefined) continue
      if (!(at instanceof Date) || Number.isNaN(at.getTime()) || at.getTime() - now > maxDelayMs) {
        throw new InputError(
          `${input.type}: notBefore must be a time at most ${maxDelayMs / 86_400_000} days ahead${inputs.length > 1 ? ` (message ${i + 1} of ${inputs.length})` : ''}`,
          [{ path: '/notBefore', message: 'must be a valid time within the longest delay' }],
        )
      }
    }
    const envelopes = inputs.map((input) => envelopeOf(input, cause))
    const bodies = envelopes.map((e) => JSON.stringify(e))
    for (const [i, envelope] of envelopes.entries()) {
      const violations = [...violationsOf(envelope), ...transportViolations(envelope, bodies[i] as string)]
      if (violations.length > 0) {
        throw new InputError(
          `${envelope.type} is not a valid message${inputs.length > 1 ? ` (message ${i + 1} of ${inputs.length})` : ''}: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
          violations,
        )
      }
    }
    if (envelopes.length === 0) return []
    await tx.query(
      `INSERT INTO rxt_outbox (id, type, key, body, not_before)
       SELECT id, type, key, body, not_before
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
              WITH ORDINALITY AS m(id, type, key, body, not_before, n)
        ORDER BY n`,
      [
        envelopes.map((e) => e.id),
        envelopes.map((e) => e.type),
        envelopes.map((e) => e.key),
        bodies,
        inputs.map((input) =>
          input.notBefore !== undefined && input.notBefore.getTime() > now ? input.notBefore : null,
        ),
      ],
    )
    const delayed = inputs.map((input) => input.notBefore?.getTime() ?? now).filter((at) => at > now)
    tx.afterCommit(() => {
      if (delayed.length < inputs.length) a.kick()
      if (delayed.length > 0) a.kick(Math.min(...delayed))
    })
    return envelopes
  }

  return { publishAll, violationsOf }
}
export type Publisher = ReturnType<typeof createPublisher>
