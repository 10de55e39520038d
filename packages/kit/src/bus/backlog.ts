import { Gauge, type Registry } from 'prom-client'
import type { Logger } from '../log.ts'
import type { StreamFill, Transport } from './transport.ts'

/** A stream's fill against each of its limits: its first message's age over its max age, its bytes over its max bytes (0 without the limit). */
const fillOf = (fill: StreamFill, now: Date) => ({
  age:
    fill.maxAgeMs === undefined || fill.firstAt === undefined
      ? 0
      : Math.max(0, (now.getTime() - fill.firstAt.getTime()) / fill.maxAgeMs),
  bytes: fill.maxBytes === undefined ? 0 : fill.bytes / fill.maxBytes,
})

/** How full a stream is against its limits, 0 (empty, or no limits) to 1 (at one): the larger fill. */
export function limitRatio(fill: StreamFill, now: Date): number {
  const { age, bytes } = fillOf(fill, now)
  return Math.max(age, bytes)
}

/** A stream past the warning ratio, and which of its limits is nearest. */
export interface NearLimit {
  readonly stream: string
  readonly ratio: number
  readonly limit: 'age' | 'bytes'
}

export interface BacklogWatchOptions {
  readonly registry: Registry
  readonly transport: Transport
  readonly log: Logger
  /** The consumers running in this process. */
  readonly consumers: () => readonly { readonly name: string; readonly types: readonly string[] }[]
  readonly now?: () => Date
  /** The ratio at which a stream is reported near its limits. Default 0.8. */
  readonly warnAt?: number
  /** The ratio under which a reported stream is reported again when it next reaches `warnAt`. Default 0.7. */
  readonly rearmAt?: number
}

export interface BacklogWatch {
  /** Reads the transport, for the gauges and the log: a warning the first time a stream reaches `warnAt`. */
  check(): Promise<void>
  /** The streams at or past `warnAt` at the last check. */
  nearLimits(): readonly NearLimit[]
}

/**
 * What the consumers of this process owe and how near the transport's stores are to their limits:
 * `rxt_bus_consumer_oldest_pending_seconds{consumer}` and `rxt_bus_stream_limit_ratio{stream}`, read
 * when Prometheus scrapes (and when `check` runs), and one warning in the log each time a stream reaches
 * the warning ratio (not at every check; again only after it went under `rearmAt`). A transport that
 * cannot tell (no `backlog`, no `streams`) shows no value.
 */
export function createBacklogWatch(options: BacklogWatchOptions): BacklogWatch {
  const { transport, log } = options
  const now = options.now ?? (() => new Date())
  const warnAt = options.warnAt ?? 0.8
  const rearmAt = options.rearmAt ?? 0.7
  let ages = new Map<string, number>()
  let ratios = new Map<string, number>()
  const near = new Map<string, NearLimit>()
  let running: Promise<void> | undefined
  let checkedAt = 0

  const read = async () => {
    const at = now()
    const nextAges = new Map<string, number>()
    if (transport.backlog !== undefined) {
      for (const { name, types } of options.consumers()) {
        try {
          const { oldestAt } = await transport.backlog({ name, types, ackWaitMs: 0 })
          nextAges.set(
            name,
            oldestAt === undefined ? 0 : Math.max(0, (at.getTime() - oldestAt.getTime()) / 1000),
          )
        } catch {
          // The transport is down: readiness says so; the gauge shows no value.
        }
      }
    }
    ages = nextAges
    const fills = (await transport.streams?.().catch(() => undefined)) ?? []
    const nextRatios = new Map<string, number>()
    for (const fill of fills) {
      const parts = fillOf(fill, at)
      const ratio = Math.max(parts.age, parts.bytes)
      const limit = parts.bytes >= parts.age ? 'bytes' : 'age'
      nextRatios.set(fill.name, ratio)
      const reported = near.get(fill.name)
      if (ratio >= warnAt) {
        near.set(fill.name, { stream: fill.name, ratio, limit })
        if (reported === undefined) {
          log.warn(
            {
              stream: fill.name,
              ratio,
              limit,
              bytes: fill.bytes,
              maxBytes: fill.maxBytes,
              firstAt: fill.firstAt,
              maxAgeMs: fill.maxAgeMs,
            },
            limit === 'bytes'
              ? 'a bus stream is near its byte limit: once full it refuses publishes, and the outboxes keep them'
              : 'a bus stream is near its age limit: past it, messages a consumer has not settled are deleted',
          )
        }
      } else if (reported !== undefined && ratio < rearmAt) {
        near.delete(fill.name)
        log.info({ stream: fill.name, ratio }, 'a bus stream is back under its limits')
      } else if (reported !== undefined) {
        near.set(fill.name, { stream: fill.name, ratio, limit })
      }
    }
    ratios = nextRatios
  }

  const check = (): Promise<void> => {
    running ??= read().finally(() => {
      running = undefined
      checkedAt = Date.now()
    })
    return running
  }
  /** One read serves the gauges of one scrape. */
  const fresh = () => running ?? (Date.now() - checkedAt < 1_000 ? Promise.resolve() : check())

  const registers = [options.registry]
  new Gauge({
    name: 'rxt_bus_consumer_oldest_pending_seconds',
    help: 'Age of the oldest message a consumer has not settled (0: it owes none)',
    labelNames: ['consumer'],
    registers,
    async collect() {
      await fresh()
      this.reset()
      for (const [consumer, age] of ages) this.set({ consumer }, age)
    },
  })
  new Gauge({
    name: 'rxt_bus_stream_limit_ratio',
    help: "How near a bus stream is to its limits (1: at one): its first message's age over its max age, or its bytes over its max bytes, the larger",
    labelNames: ['stream'],
    registers,
    async collect() {
      await fresh()
      this.reset()
      for (const [stream, ratio] of ratios) this.set({ stream }, ratio)
    },
  })

  return {
    check,
    nearLimits: () => [...near.values()],
  }
}
