import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type MsgRequest,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream'
import { connect, createInbox, headers, millis, type NatsConnection, nanos } from '@nats-io/transport-node'
import { InputError, UnavailableError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type {
  ConsumerBacklog,
  ConsumerSpec,
  Delivery,
  ReplayFrom,
  StreamFill,
  Transport,
  TransportConsumer,
} from './transport.ts'

export interface NatsTransportOptions {
  /** `nats://host:port` (comma-separated for a cluster). */
  readonly url: string
  /** Prefix of every subject and stream: installations (and test runs) sharing a server stay apart. */
  readonly namespace: string
  readonly log: Logger
  /**
   * How long the streams remember message ids to drop re-publishes (the relay's retry horizon). Default
   * 2 minutes; at least `publishTimeoutMs`, at most `maxAgeMs`.
   */
  readonly duplicateWindowMs?: number
  /**
   * The streams' own age limit: past it a message goes even if a consumer has not settled it. Default
   * 30 days. Settled messages go earlier, with `prune`.
   */
  readonly maxAgeMs?: number
  /**
   * Most bytes a stream stores; -1 (the default): no limit. A full stream refuses publishes (discard
   * new): nothing is deleted to make room, and the outboxes keep what was refused.
   */
  readonly maxBytes?: number
  /** Copies of each stream in a JetStream cluster (1 to 5; 1, the default, on a single server). */
  readonly replicas?: number
  /** How long a batch of publishes waits for the streams' acknowledgements. */
  readonly publishTimeoutMs?: number
}

/** The limits and durability of every stream the transport makes, and what it sets on existing ones. */
export interface StreamLimits {
  readonly maxAgeMs: number
  readonly maxBytes: number
  readonly replicas: number
  readonly duplicateWindowMs: number
}

/** The options' stream settings with their defaults; refuses settings NATS would refuse later. */
export function streamLimitsOf(options: NatsTransportOptions): StreamLimits {
  const limits = {
    maxAgeMs: options.maxAgeMs ?? 30 * 24 * 3_600_000,
    maxBytes: options.maxBytes ?? -1,
    replicas: options.replicas ?? 1,
    duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
  }
  const publishTimeoutMs = options.publishTimeoutMs ?? defaultPublishTimeoutMs
  const violations = [
    ...(Number.isInteger(limits.replicas) && limits.replicas >= 1 && limits.replicas <= 5
      ? []
      : [{ path: 'replicas', message: `replicas must be 1 to 5, not ${limits.replicas}` }]),
    ...(limits.maxBytes === -1 || (Number.isInteger(limits.maxBytes) && limits.maxBytes > 0)
      ? []
      : [
          {
            path: 'maxBytes',
            message: `maxBytes must be -1 (no limit) or a number of bytes, not ${limits.maxBytes}`,
          },
        ]),
    ...(limits.duplicateWindowMs >= publishTimeoutMs
      ? []
      : [
          {
            path: 'duplicateWindowMs',
            message: `the duplicate window (${limits.duplicateWindowMs} ms) must be at least the publish timeout (${publishTimeoutMs} ms): a publish retried after a timeout would be stored twice`,
          },
        ]),
    ...(limits.duplicateWindowMs <= limits.maxAgeMs
      ? []
      : [
          {
            path: 'duplicateWindowMs',
            message: `the duplicate window (${limits.duplicateWindowMs} ms) must be at most the max age (${limits.maxAgeMs} ms)`,
          },
        ]),
  ]
  if (violations.length > 0) {
    throw new InputError(
      `invalid NATS stream settings: ${violations.map((v) => v.message).join('; ')}`,
      violations,
    )
  }
  return limits
}

const defaultPublishTimeoutMs = 10_000

const keyHeader = 'Rxt-Key'

/** The URL without its credentials, for messages and logs. */
const redactUrl = (url: string): string => url.replace(/\/\/[^@/]*@/g, '//***@')

/** `evt.deploy.ready` → `evt.deploy`: the family whose stream carries it. */
export const familyOf = (type: string): string => type.split('.').slice(0, 2).join('.')
const token = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '_')

/**
 * NATS JetStream: a stream per subject family (`<ns>.evt.deploy.>`), durable pull consumers shared by
 * every replica of a consumer, explicit acks, and `Nats-Msg-Id` = the envelope id so that the stream's
 * duplicate window drops a relay's re-publish.
 */
export async function createNatsTransport(options: NatsTransportOptions): Promise<Transport> {
  const limits = streamLimitsOf(options)
  let nc: NatsConnection
  let attempts = 0
  try {
    // No async stack traces: each request would capture two stacks, a tenth of the relay's CPU.
    // Never gives up reconnecting (the client's default is 10 attempts, about 20 s): the backoff
    // doubles from 250 ms to 10 s, and readiness reports the outage meanwhile.
    nc = await connect({
      servers: options.url.split(','),
      name: `rxt-${options.namespace}`,
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => {
        const delay = Math.min(10_000, 250 * 2 ** Math.min(attempts, 6))
        attempts++
        return delay + Math.floor(Math.random() * (delay / 4))
      },
    })
  } catch (error) {
    throw new UnavailableError(
      `cannot connect to NATS at ${redactUrl(options.url)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    )
  }
  /** When the connection dropped (undefined while connected), and how often it came back. */
  let downSince: Date | undefined
  let reconnects = 0
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' && downSince === undefined) {
        downSince = new Date()
        options.log.warn({ server: redactUrl(status.server) }, 'NATS connection lost; reconnecting')
      } else if (status.type === 'reconnect') {
        options.log.info({ server: redactUrl(status.server), since: downSince }, 'NATS reconnected')
        downSince = undefined
        attempts = 0
        reconnects++
      }
    }
  })()
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const publishing = createAsyncPublisher(nc, options.publishTimeoutMs ?? defaultPublishTimeoutMs)
  const ns = options.namespace
  const subjectOf = (type: string) => `${ns}.${type}`
  const streamOf = (family: string) => token(`${ns}_${family}`).toUpperCase()
  const durableOf = (name: string) => token(name)
  const ensured = new Map<string, Promise<string>>()

  /**
   * Adds a stream; another process (or this one's consumer) may add it at the same moment, and a stream
   * just deleted takes the server a moment to let go of its store: tried a few times.
   */
  const addStream = async (config: Parameters<typeof jsm.streams.add>[0]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await jsm.streams.add(config)
        return
      } catch (error) {
        if ((await jsm.streams.info(config.name as string).catch(() => undefined)) !== undefined) return
        if (attempt >= 5) throw error
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
      }
    }
  }

  /**
   * Makes the stream of a family, or brings an existing one to the configured limits. Limits retention:
   * a consumer added later still finds what was published before it (interest or work-queue retention
   * would drop what no consumer has taken yet). `prune` purges what every consumer has settled once it
   * is past the bus's retention; `max_age` is the backstop for what a consumer never settles, and a
   * stream at `max_bytes` refuses publishes rather than drop what a consumer may still owe. File
   * storage: it survives a restart of the server.
   */
  const ensureStream = (family: string): Promise<string> => {
    let pending = ensured.get(family)
    if (pending === undefined) {
      const name = streamOf(family)
      const settings = {
        max_age: nanos(limits.maxAgeMs),
        max_bytes: limits.maxBytes,
        discard: DiscardPolicy.New,
        num_replicas: limits.replicas,
        duplicate_window: nanos(limits.duplicateWindowMs),
      }
      const config = {
        name,
        subjects: [subjectOf(family), `${subjectOf(family)}.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        ...settings,
      }
      pending = jsm.streams
        .info(name)
        .catch(() => undefined)
        .then(async (existing) => {
          if (existing === undefined) {
            await addStream(config)
            return name
          }
          if (existing.config.storage !== StorageType.File) {
            options.log.warn(
              { stream: name, storage: existing.config.storage },
              'a NATS stream is not on file storage: its messages do not survive a restart of the server; delete it to have it made again on file',
            )
          }
          const changed = (Object.keys(settings) as (keyof typeof settings)[]).filter(
            (key) => existing.config[key] !== settings[key],
          )
          if (changed.length > 0) {
            // Changed limits apply to the existing stream.
            await jsm.streams.update(name, settings)
            options.log.info({ stream: name, changed }, 'NATS stream limits updated')
          }
          return name
        })
      pending.catch(() => ensured.delete(family))
      ensured.set(family, pending)
    }
    return pending
  }

  /** Streams on which a replay of this process is making a consumer again: not pruned meanwhile. */
  const rewinding = new Set<string>()

  /** The sequence of a stream's first message stored at or after `time`; undefined when there is none. */
  const firstSeqAt = async (stream: string, time: Date): Promise<number | undefined> => {
    const reader = await js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: time.toISOString(),
    })
    try {
      return (await reader.next({ expires: 1_000 }))?.seq
    } finally {
      await reader.delete().catch(() => undefined)
    }
  }

  const pruneStream = async (stream: string, olderThan: Date): Promise<number> => {
    const { state } = await jsm.streams.info(stream)
    if (state.messages === 0) return 0
    // Below a consumer's floor it has settled everything it takes; a consumer that owes nothing has
    // settled the whole stream as it was (read after the stream's state).
    let floor = state.last_seq
    for await (const consumer of jsm.consumers.list(stream)) {
      if (consumer.num_pending + consumer.num_ack_pending === 0) continue
      floor = Math.min(floor, consumer.ack_floor.stream_seq)
    }
    if (floor < state.first_seq) return 0
    const last = await jsm.streams.getMessage(stream, { seq: state.last_seq }).catch(() => null)
    // Everything is older than the horizon, or the first message after it bounds what may go.
    const before =
      last !== null && last.time.getTime() < olderThan.getTime()
        ? state.last_seq + 1
        : ((await firstSeqAt(stream, olderThan)) ?? state.last_seq + 1)
    const upTo = Math.min(floor, before - 1)
    if (upTo < state.first_seq) return 0
    return (await jsm.streams.purge(stream, { seq: upTo + 1 })).purged
  }

  /**
   * The streams a consumer's types live on, with the subject it filters on in each: the type's own
   * subject when it takes one type of the family, else the whole family (the consumer acks the types
   * it does not take). One filter subject works on every JetStream server (filter_subjects needs 2.10).
   */
  const streamsOf = async (spec: ConsumerSpec) => {
    const byFamily = new Map<string, string[]>()
    for (const type of spec.types) {
      const family = familyOf(type)
      byFamily.set(family, [...(byFamily.get(family) ?? []), subjectOf(type)])
    }
    return Promise.all(
      [...byFamily].map(async ([family, subjects]) => ({
        stream: await ensureStream(family),
        filter: subjects.length === 1 ? (subjects[0] as string) : `${subjectOf(family)}.>`,
      })),
    )
  }

  const consumerConfig = (spec: ConsumerSpec, filter: string): Partial<ConsumerConfig> => ({
    durable_name: durableOf(spec.name),
    ack_policy: AckPolicy.Explicit,
    filter_subject: filter,
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: 20_000,
  })

  /**
   * Creates the durable consumer of `spec` on each of its streams, or updates what it filters. A new
   * durable starts at the beginning of what the stream retains (the inbox drops what it handled): a
   * consumer that starts after messages were published still gets them.
   */
  const declare = async (spec: ConsumerSpec) => {
    const streams = await streamsOf(spec)
    for (const { stream, filter } of streams) {
      const config = consumerConfig(spec, filter)
      const existing = await jsm.consumers.info(stream, durableOf(spec.name)).catch(() => undefined)
      if (existing === undefined) {
        await jsm.consumers.add(stream, { ...config, deliver_policy: DeliverPolicy.All })
      } else if (existing.config.filter_subject !== filter || existing.config.ack_wait !== config.ack_wait) {
        await jsm.consumers.update(stream, durableOf(spec.name), {
          filter_subject: filter,
          ack_wait: config.ack_wait,
        })
      }
    }
    return streams
  }

  return {
    kind: 'nats',
    async publish(messages) {
      const families = [...new Set(messages.map((m) => familyOf(m.type)))]
      const send = async () => {
        await Promise.all(families.map(ensureStream))
        await publishing.publishAll(
          messages.map((m) => ({ subject: subjectOf(m.type), body: m.body, id: m.id, key: m.key })),
        )
      }
      try {
        await send()
      } catch (error) {
        if (!(error instanceof NoStreamError)) throw error
        // A stream was deleted behind the transport's back: made again, and the batch sent again (the
        // duplicate window drops what a surviving stream already has).
        options.log.warn({ families }, 'a NATS stream is gone; creating it again')
        for (const family of families) ensured.delete(family)
        await send()
      }
    },
    async consumer(spec) {
      const streams = await declare(spec)
      return natsConsumer(js, spec, streams, ns, options.log, {
        redeclare: async () => {
          // The consumer or its stream is gone (deleted behind the transport's back): both made again.
          for (const family of new Set(spec.types.map(familyOf))) ensured.delete(family)
          await declare(spec)
        },
        missing: async (stream) =>
          downSince === undefined &&
          (await jsm.consumers.info(stream, durableOf(spec.name)).then(
            () => false,
            (error: unknown) => /not found/i.test((error as Error).message),
          )),
      })
    },
    async replay(spec, from) {
      const streams = await streamsOf(spec)
      if ('seq' in from && streams.length > 1) {
        throw new InputError(
          `consumer ${spec.name} reads ${streams.length} streams, whose sequence numbers differ: replay it from a time`,
        )
      }
      if ('seq' in from) {
        const last = (await jsm.streams.info(streams[0]?.stream as string)).state.last_seq
        if (from.seq > last + 1) {
          throw new InputError(`the stream ends at sequence ${last}; a replay cannot start at ${from.seq}`, [
            { path: '/fromSeq', message: `at most ${last + 1}` },
          ])
        }
      }
      for (const { stream, filter } of streams) {
        // Never forward: a consumer behind the point restarts at its first unacknowledged message (its
        // ack floor + 1), so that what waits for a retry or is in hand is delivered again, not dropped.
        let policy = replayPolicy(from)
        const info = await jsm.consumers.info(stream, durableOf(spec.name)).catch(() => undefined)
        if (info !== undefined) {
          const position = info.ack_floor.stream_seq + 1
          if ('seq' in from) {
            if (from.seq > position) policy = replayPolicy({ seq: position })
          } else {
            const next = await jsm.streams
              .getMessage(stream, { seq: position, next_by_subj: filter } as unknown as MsgRequest)
              .catch(() => null)
            if (next !== null && next.time.getTime() < from.time.getTime()) {
              policy = replayPolicy({ seq: next.seq })
            }
          }
        }
        rewinding.add(stream)
        try {
          await jsm.consumers.delete(stream, durableOf(spec.name)).catch(() => undefined)
          await jsm.consumers.add(stream, { ...consumerConfig(spec, filter), ...policy })
        } finally {
          rewinding.delete(stream)
        }
      }
    },
    async lag(spec) {
      let lag = 0
      for (const { stream } of await streamsOf(spec)) {
        const info = await jsm.consumers.info(stream, durableOf(spec.name)).catch(() => undefined)
        if (info !== undefined) lag += info.num_pending + info.num_ack_pending
      }
      return lag
    },
    async backlog(spec): Promise<ConsumerBacklog> {
      let messages = 0
      let oldestAt: Date | undefined
      for (const { stream, filter } of await streamsOf(spec)) {
        const info = await jsm.consumers
          .info(stream, durableOf(spec.name))
          .catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error)))
        if (info === undefined) continue
        const owed = info.num_pending + info.num_ack_pending
        if (owed === 0) continue
        messages += owed
        // Everything of its filter up to the ack floor is settled: the next message of its filter is not.
        const first = await jsm.streams
          .getMessage(stream, {
            seq: info.ack_floor.stream_seq + 1,
            next_by_subj: filter,
          } as unknown as MsgRequest)
          .catch(() => null)
        if (first !== null && (oldestAt === undefined || first.time < oldestAt)) oldestAt = first.time
      }
      return { messages, oldestAt }
    },
    async streams() {
      const fills: StreamFill[] = []
      for (const result of await Promise.allSettled(ensured.values())) {
        if (result.status !== 'fulfilled') continue
        const { config, state } = await jsm.streams.info(result.value)
        fills.push({
          name: result.value,
          firstAt: state.messages > 0 ? new Date(state.first_ts) : undefined,
          bytes: state.bytes,
          maxAgeMs: config.max_age > 0 ? millis(config.max_age) : undefined,
          maxBytes: config.max_bytes > 0 ? config.max_bytes : undefined,
        })
      }
      return fills
    },
    /**
     * Purges, from each stream this process uses, the messages stored before `olderThan` that every
     * consumer of the stream has settled (a stream nobody consumes: every message before it), as the
     * Postgres log does. What a consumer still owes stays, up to the stream's max age.
     */
    async prune(olderThan) {
      let dropped = 0
      for (const result of await Promise.allSettled(ensured.values())) {
        if (result.status !== 'fulfilled' || rewinding.has(result.value)) continue
        dropped += await pruneStream(result.value, olderThan)
      }
      return dropped
    },
    async ping() {
      if (downSince !== undefined) {
        throw new UnavailableError(
          `NATS at ${redactUrl(options.url)} is unreachable since ${downSince.toISOString()}; reconnecting`,
        )
      }
      try {
        await nc.flush()
      } catch (error) {
        throw new UnavailableError(`NATS does not answer: ${(error as Error).message}`, { cause: error })
      }
    },
    status: () => ({ connected: downSince === undefined && !nc.isClosed(), reconnects }),
    async close() {
      if (!nc.isClosed()) await nc.drain()
    },
  }
}

const isNotFound = (error: unknown): boolean => /not found/i.test((error as Error).message)

/** No stream takes a published subject (it was deleted). */
class NoStreamError extends UnavailableError {
  constructor() {
    super('JetStream did not answer a publish: no stream takes its subject')
  }
}

interface Waiting {
  resolve(): void
  reject(error: Error): void
}

/**
 * JetStream publishes in flight on one reply subscription: each is a core NATS publish whose reply
 * subject is `<inbox>.<n>`, and the stream's acknowledgement comes back on it. A request per message
 * would cost a subscription entry, a timer and an error object each; here a batch shares one timer
 * (the asynchronous publishing of NATS's own clients works this way).
 */
function createAsyncPublisher(nc: NatsConnection, timeoutMs: number) {
  const inbox = createInbox()
  const waiting = new Map<string, Waiting>()
  let next = 0
  nc.subscribe(`${inbox}.*`, {
    callback: (error, msg) => {
      if (error !== null) {
        for (const w of waiting.values()) w.reject(error)
        waiting.clear()
        return
      }
      const token = msg.subject.slice(inbox.length + 1)
      const w = waiting.get(token)
      if (w === undefined) return
      waiting.delete(token)
      // No stream listens on the subject (status 503, no responders).
      if (msg.headers?.code === 503) {
        w.reject(new NoStreamError())
        return
      }
      let ack: { stream?: string; error?: { code?: number; description?: string } }
      try {
        ack = msg.json()
      } catch {
        w.reject(
          new UnavailableError('JetStream answered a publish with something other than an acknowledgement'),
        )
        return
      }
      if (ack.error !== undefined || typeof ack.stream !== 'string') {
        w.reject(
          new UnavailableError(
            `JetStream refused a publish: ${ack.error?.description ?? 'no stream in its acknowledgement'} (${ack.error?.code ?? 'no code'})`,
          ),
        )
      } else w.resolve()
    },
  })

  return {
    /** Resolves once every message is stored (or was a duplicate the stream dropped). */
    async publishAll(messages: readonly { subject: string; body: string; id: string; key: string }[]) {
      const tokens: string[] = []
      const acked = messages.map(
        (m) =>
          new Promise<void>((resolve, reject) => {
            const token = String(next++)
            tokens.push(token)
            waiting.set(token, { resolve, reject })
            const h = headers()
            h.set('Nats-Msg-Id', m.id)
            h.set(keyHeader, m.key)
            nc.publish(m.subject, m.body, { reply: `${inbox}.${token}`, headers: h })
          }),
      )
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UnavailableError(
                `JetStream did not acknowledge ${tokens.filter((t) => waiting.has(t)).length} of ${messages.length} publishes in ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        )
      })
      try {
        await Promise.race([Promise.all(acked), timedOut])
      } finally {
        clearTimeout(timer)
        for (const token of tokens) waiting.delete(token)
      }
    },
  }
}

const replayPolicy = (from: ReplayFrom): Partial<ConsumerConfig> =>
  'seq' in from
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.seq }
    : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time.toISOString() }

function natsConsumer(
  js: JetStreamClient,
  spec: ConsumerSpec,
  streams: readonly { stream: string; filter: string }[],
  ns: string,
  log: Logger,
  recovery: {
    /** Declares the consumer (and its streams) again. */
    readonly redeclare: () => Promise<void>
    /** Whether the server no longer has the consumer on `stream`. */
    readonly missing: (stream: string) => Promise<boolean>
  },
): TransportConsumer {
  const { redeclare } = recovery
  const durable = token(spec.name)
  const wanted = new Set(spec.types.map((type) => `${ns}.${type}`))
  const queue: JsMsg[] = []
  const limit = spec.prefetch ?? 256
  let notify: (() => void) | undefined
  let drained: (() => void) | undefined
  let closed = false
  const iterators: ConsumerMessages[] = []

  // One consume() loop per stream feeds the queue; it restarts when the consumer is recreated (replay)
  // or the connection drops.
  const run = async (stream: string) => {
    while (!closed) {
      try {
        const consumer = await js.consumers.get(stream, durable)
        // Ends (instead of waiting forever) when the consumer or its stream is deleted.
        const messages = await consumer.consume({
          max_messages: spec.prefetch ?? 256,
          abort_on_missing_resource: true,
        })
        iterators.push(messages)
        // Closed while this loop was starting: nothing may be pulled for a reader that is gone.
        if (closed) messages.stop()
        for await (const msg of messages) {
          if (closed) {
            msg.nak()
            continue
          }
          if (!wanted.has(msg.subject)) {
            msg.ack()
            continue
          }
          lastMessage = Date.now()
          queue.push(msg)
          notify?.()
          // Bounded: while the reader is behind, nothing more is taken from the iterator, whose own
          // buffer (max_messages) then stops pulling.
          while (queue.length >= limit && !closed) {
            await new Promise<void>((resolve) => {
              drained = resolve
            })
          }
        }
      } catch (error) {
        if (!closed) {
          log.warn({ err: error, stream, consumer: spec.name }, 'NATS consumer restarting')
          if (/not found|deleted/i.test((error as Error).message)) {
            await redeclare().catch((e: unknown) =>
              log.warn({ err: e, stream, consumer: spec.name }, 'NATS consumer not declared again yet'),
            )
          }
        }
      }
      if (!closed) await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  for (const { stream } of streams) void run(stream)

  // A pull can wait on a consumer the server dropped without saying so (its stream deleted while a
  // request was in flight): while nothing arrives, the consumer is looked up now and then, and made
  // again when it is gone.
  // What waits here for the reader is in hand too: told to the server as being worked on, every half ack
  // wait, so that it is not delivered again elsewhere while this replica's handlers are slow.
  const heartbeat = setInterval(
    () => {
      for (const msg of queue) msg.working()
    },
    Math.max(250, Math.floor(spec.ackWaitMs / 2)),
  )
  heartbeat.unref()

  let lastMessage = Date.now()
  const watchdog = setInterval(() => {
    if (closed || Date.now() - lastMessage < 5_000) return
    void (async () => {
      for (const { stream } of streams) {
        if (!(await recovery.missing(stream).catch(() => false))) continue
        log.warn({ stream, consumer: spec.name }, 'NATS consumer is gone; declaring it again')
        await redeclare()
        for (const it of iterators.splice(0)) it.stop()
      }
    })().catch((error: unknown) =>
      log.warn({ err: error, consumer: spec.name }, 'NATS consumer check failed'),
    )
  }, 5_000)
  watchdog.unref()

  const toDelivery = (msg: JsMsg): Delivery => ({
    type: msg.subject.slice(ns.length + 1),
    key: msg.headers?.get(keyHeader) ?? '',
    body: msg.string(),
    seq: msg.seq,
    deliveryCount: msg.info.deliveryCount,
    ack: async () => msg.ack(),
    retry: async (delayMs) => msg.nak(delayMs),
    working: () => msg.working(),
  })

  return {
    async fetch(max, waitMs) {
      if (queue.length === 0 && !closed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs)
          notify = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        notify = undefined
      }
      const taken = queue.splice(0, max).map(toDelivery)
      drained?.()
      drained = undefined
      return taken
    },
    async close() {
      closed = true
      clearInterval(watchdog)
      clearInterval(heartbeat)
      notify?.()
      drained?.()
      for (const it of iterators) it.stop()
      // Unsettled messages are redelivered to another replica after ack_wait; hand them back now.
      for (const msg of queue.splice(0)) msg.nak()
    },
  }
}
