import { Counter, Gauge, type Registry } from 'prom-client'
import type { ContextDb } from '../db/index.ts'
import type { Transport } from './transport.ts'

/** What the gauges read when Prometheus scrapes. */
export interface BusMetricSources {
  /** The consumers running in this process. */
  consumers(): readonly { readonly name: string; readonly types: readonly string[] }[]
  /** The outboxes of the contexts attached in this process. */
  outboxes(): readonly { readonly context: string; readonly db: ContextDb }[]
}

/** The bus's counters and gauges: published, delivered, redelivered, duplicates, dead-lettered, lags. */
export function createBusMetrics(registry: Registry, transport: Transport, sources: BusMetricSources) {
  const registers = [registry]
  return {
    published: new Counter({
      name: 'rxt_bus_published_total',
      help: 'Messages the relay handed to the transport, by type',
      labelNames: ['type'],
      registers,
    }),
    delivered: new Counter({
      name: 'rxt_bus_delivered_total',
      help: 'Deliveries to a consumer (first and repeated)',
      labelNames: ['consumer'],
      registers,
    }),
    redelivered: new Counter({
      name: 'rxt_bus_redelivered_total',
      help: 'Deliveries of a message the consumer had been given before',
      labelNames: ['consumer'],
      registers,
    }),
    duplicates: new Counter({
      name: 'rxt_bus_duplicates_total',
      help: 'Deliveries acknowledged without handling: the inbox had the message',
      labelNames: ['consumer'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'rxt_bus_dead_lettered_total',
      help: 'Messages a consumer gave up on',
      labelNames: ['consumer'],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'rxt_bus_consumer_lag',
      help: 'Messages a consumer has not settled yet',
      labelNames: ['consumer'],
      registers,
      async collect() {
        this.reset()
        for (const { name, types } of sources.consumers()) {
          try {
            this.set({ consumer: name }, await transport.lag({ name, types, ackWaitMs: 0 }))
          } catch {
            // The transport is down: readiness says so; the gauge shows no value.
          }
        }
      },
    }),
    transportUp: new Gauge({
      name: 'rxt_bus_transport_up',
      help: "1 while the transport's connection is up, 0 while it reconnects",
      registers,
      collect() {
        this.set(transport.status?.().connected === false ? 0 : 1)
      },
    }),
    transportReconnects: new Gauge({
      name: 'rxt_bus_transport_reconnects',
      help: 'Times the transport reconnected since the process started',
      registers,
      collect() {
        this.set(transport.status?.().reconnects ?? 0)
      },
    }),
    held: new Gauge({
      name: 'rxt_bus_held_messages',
      help: 'Messages a consumer holds back in its database: retries, their keys behind them, and keys held by a dead letter',
      labelNames: ['consumer'],
      registers,
      async collect() {
        this.reset()
        for (const { db } of sources.outboxes()) {
          const { rows } = await db
            .query<{ consumer: string; n: string }>(
              'SELECT consumer, count(*) AS n FROM rxt_held GROUP BY consumer',
            )
            .catch(() => ({ rows: [] as { consumer: string; n: string }[] }))
          for (const row of rows) this.set({ consumer: row.consumer }, Number(row.n))
        }
      },
    }),
    relayLag: new Gauge({
      name: 'rxt_bus_relay_lag_seconds',
      help: 'How long the oldest message due in a context outbox has waited for the relay (a delayed one, since it came due)',
      labelNames: ['context'],
      registers,
      async collect() {
        this.reset()
        for (const { context, db } of sources.outboxes()) {
          const { rows } = await db
            .query<{ age: number | null }>(
              `SELECT extract(epoch FROM now() - min(coalesce(not_before, created_at)))::float8 AS age
                 FROM rxt_outbox WHERE not_before IS NULL OR not_before <= now()`,
            )
            .catch(() => ({ rows: [] as { age: number | null }[] }))
          this.set({ context }, rows[0]?.age ?? 0)
        }
      },
    }),
  }
}
export type BusMetrics = ReturnType<typeof createBusMetrics>
