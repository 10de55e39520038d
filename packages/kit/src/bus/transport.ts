/** A committed message as the transport carries it: the envelope serialised once, plus routing fields. */
export interface OutboundMessage {
  /** The envelope id; the transport drops a second message with the same id. */
  readonly id: string
  /** The message type (`evt.deploy.ready`): the subject it is published on. */
  readonly type: string
  /** Ordering key: messages with one key are delivered in publish order. */
  readonly key: string
  readonly time: Date
  /** The envelope as JSON. */
  readonly body: string
}

/** One delivery of a message to a consumer. Settle it exactly once: ack, retry or (after handling) ack. */
export interface Delivery {
  readonly type: string
  readonly key: string
  readonly body: string
  /** The transport's sequence number of the message (per stream on NATS, global on the Postgres log). */
  readonly seq: number
  /** 1 on the first delivery, 2 on the first redelivery, … */
  readonly deliveryCount: number
  /** Done with it: it will not be delivered again. */
  ack(): Promise<void>
  /** Deliver it again after `delayMs` (to this or another replica). */
  retry(delayMs: number): Promise<void>
  /** Still in hand: the ack wait starts again (sent while a slow handler runs, or it waits its turn). */
  working?(): void
}

/** Where a consumer (re)starts: every message from a sequence number, or from a time. */
export type ReplayFrom = { readonly seq: number } | { readonly time: Date }

export interface ConsumerSpec {
  /** Durable name, shared by every replica of the consumer: `<context>.<handler id>`. */
  readonly name: string
  readonly types: readonly string[]
  /** How long a delivery may stay unsettled before it is delivered again. */
  readonly ackWaitMs: number
  /**
   * Most messages a replica holds before handling them (what it prefetches): small enough that the
   * replicas of a consumer share the work. Default 256.
   */
  readonly prefetch?: number
}

export interface TransportConsumer {
  /** Up to `max` deliveries; waits up to `waitMs` for the first one. Resolves empty on timeout or close. */
  fetch(max: number, waitMs: number): Promise<Delivery[]>
  close(): Promise<void>
}

/** What a consumer owes: how many messages, and since when the oldest of them has been stored. */
export interface ConsumerBacklog {
  /** Messages not yet settled (as `lag`). */
  readonly messages: number
  /**
   * When the oldest message the consumer has not settled was stored; undefined when it owes none. A
   * message that failed and waits in its context's `rxt_held` is settled on the transport: not here.
   */
  readonly oldestAt: Date | undefined
}

/** A store of messages with limits of its own (a NATS stream): how much it holds against them. */
export interface StreamFill {
  readonly name: string
  /** When its first (oldest) message was stored; undefined while empty. */
  readonly firstAt: Date | undefined
  readonly bytes: number
  /** Its age limit in milliseconds; undefined: none. */
  readonly maxAgeMs: number | undefined
  /** Its size limit in bytes; undefined: none. */
  readonly maxBytes: number | undefined
}

/** What carries messages between processes: NATS JetStream, or the Postgres log. */
export interface Transport {
  readonly kind: 'nats' | 'postgres-log'
  /** Resolves once every message is stored durably, in order; re-publishing a stored id is a no-op. */
  publish(messages: readonly OutboundMessage[]): Promise<void>
  /**
   * Joins (creating when missing) the durable consumer `spec.name`. A new consumer starts at the beginning
   * of what the transport retains, so that what was published before its first start reaches it too.
   */
  consumer(spec: ConsumerSpec): Promise<TransportConsumer>
  /** Rewinds the durable consumer: it delivers again every matching message from `from` on. */
  replay(spec: ConsumerSpec, from: ReplayFrom): Promise<void>
  /** Messages the consumer has not settled: not yet delivered, or delivered and not acknowledged. */
  lag(spec: ConsumerSpec): Promise<number>
  /** As `lag`, with the age of what the consumer owes, where the transport can tell it. */
  backlog?(spec: ConsumerSpec): Promise<ConsumerBacklog>
  /**
   * The stores with limits of their own that this process has used, and how full they are: past a
   * limit, a store refuses publishes or deletes messages whatever their consumers owe.
   */
  streams?(): Promise<readonly StreamFill[]>
  /**
   * Drops messages older than `olderThan` that every consumer has settled (the transport's own
   * retention, if it has one, may do this itself); resolves with how many went.
   */
  prune(olderThan: Date): Promise<number>
  /** Resolves when the transport answers; throws UnavailableError when it does not. */
  ping(): Promise<void>
  /** A networked transport's connection: up or reconnecting, and how often it came back. */
  status?(): { readonly connected: boolean; readonly reconnects: number }
  close(): Promise<void>
}
