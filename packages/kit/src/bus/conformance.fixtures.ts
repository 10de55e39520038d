// What the bus conformance suite builds its cases from: the message it sends, a table of effects,
// a transport whose acks never leave, and assertions on order.
import { catalog, type Envelope } from '@rxt/contracts'
import { Registry } from 'prom-client'
import { expect } from 'vitest'
import { systemClock } from '../clock.ts'
import type { ContextDb } from '../db/index.ts'
import { migration } from '../db/migrations.ts'
import { createLogger } from '../log.ts'
import type { BusOptions } from './bus.ts'
import type { Transport } from './transport.ts'

/** The options every test bus is made with: quick retries and polls, silent, its own metrics. */
export const testBusOptions = (transport: Transport): BusOptions => ({
  transport,
  catalog,
  log: createLogger({ level: 'silent' }),
  metrics: new Registry(),
  clock: systemClock,
  maxDeliveries: 3,
  ackWaitMs: 2_000,
  backoff: { baseMs: 20, maxMs: 100 },
  relayPollMs: 50,
})

export const type = 'evt.project.created'
export const fixture = catalog.messages.get(type)?.fixture

export const effects = [
  migration(
    '0001_effects.sql',
    'CREATE TABLE effects (message_id uuid NOT NULL, key text NOT NULL, n serial)',
  ),
]

/** The transport as a process sees it that dies after committing and before its acks go out. */
export const withoutAcks = (real: Transport): Transport => ({
  ...real,
  consumer: async (spec) => {
    const inner = await real.consumer(spec)
    return {
      ...inner,
      fetch: async (max, wait) => (await inner.fetch(max, wait)).map((d) => ({ ...d, ack: async () => {} })),
    }
  },
})

/** Each key's handled messages are its published ones, in publish order. */
export const expectKeyOrder = (
  handled: readonly { message_id: string; key: string }[],
  sent: readonly Envelope[],
  keys: readonly string[],
) => {
  for (const key of keys) {
    expect(handled.filter((r) => r.key === key).map((r) => r.message_id)).toEqual(
      sent.filter((m) => m.key === key).map((m) => m.id),
    )
  }
}

/** An envelope written by hand, as a misbehaving or foreign publisher would send it. */
export const rawEnvelope = (id: string, data: unknown) => ({
  id,
  type,
  version: 1,
  time: new Date().toISOString(),
  tenantId: 't',
  correlationId: id,
  causationId: null,
  idempotencyKey: id,
  key: 'k',
  data,
})

export const count = async (db: ContextDb, sql: string, params: unknown[] = []) =>
  Number((await db.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0)
