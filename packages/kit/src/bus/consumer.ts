import { EventEmitter, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../log.ts'
import { type Attached, consumerName, type Handling, type MessageHandler, type Screened } from './handling.ts'
import type { ConsumerSpec, Delivery, Transport, TransportConsumer } from './transport.ts'

export interface ConsumerOptions {
  readonly transport: Transport
  readonly log: Logger
  readonly handling: Handling
  readonly ackWaitMs: number
  /** Messages taken per fetch. */
  readonly fetchBatch: number
  /** Keys handled at the same time (one worker each). */
  readonly concurrency: number
  /** How often the held messages are looked at when nothing in this process woke the consumer. */
  readonly heldPollMs?: number
  /**
   * How often while none is held (where nothing but this process holds them, PGlite; default
   * `heldPollMs`): a hold in this process wakes the consumer at once.
   */
  readonly heldIdlePollMs?: number
}

export interface RunningConsumer {
  /** Stops fetching, finishes what is in hand. */
  stop(): Promise<void>
  /** Looks at the held messages now (a dead letter holding a key was released). */
  kick(): void
}

/**
 * The consumer of one handler. The fetch loop queues what it fetches; up to `concurrency` workers
 * each take a share of the queue whose keys no other worker holds, and handle it in one transaction
 * (a savepoint per message, so that a failing one rolls back alone). A failed message and its key's
 * later messages are held in the database and retried from there, in order. One key is handled in order by one worker at a time; keys run in
 * parallel; a worker takes what accumulated while it was busy, so that transactions grow with load.
 */
export async function runConsumer(
  a: Attached,
  handler: MessageHandler,
  options: ConsumerOptions,
): Promise<RunningConsumer> {
  const { transport, log, handling, ackWaitMs, fetchBatch, concurrency } = options
  const heldPollMs = options.heldPollMs ?? 2_000
  const heldIdlePollMs = Math.max(heldPollMs, options.heldIdlePollMs ?? heldPollMs)
  const spec: ConsumerSpec = {
    name: consumerName(a.context, handler),
    types: handler.types,
    ackWaitMs,
    prefetch: fetchBatch * 2,
  }
  await a.db.query('INSERT INTO rxt_consumers (consumer) VALUES ($1) ON CONFLICT DO NOTHING', [spec.name])
  const consumer: TransportConsumer = await transport.consumer(spec)
  let queue: Screened[] = []
  /** Messages waiting (of keys no worker holds) past which one more worker starts. */
  const spawnThreshold = 16
  /**
   * The fewest keys a share takes when that many wait: a slow message holds back at most these few
   * (on PGlite, one connection, a long transaction of many keys holds back every context).
   */
  const minKeys = 4
  /** Keys a worker is handling: their later messages wait for it. */
  const held = new Set<string>()
  const workers = new Set<Promise<void>>()
  const progress = new EventEmitter()
  let inHand = 0
  let stopping = false

  /**
   * Takes a share of the queue: in order, skipping held keys; holds the keys it takes. A share is at
   * most a worker's part of the messages and of the keys waiting: one slow message holds back only the
   * few keys of its share, whatever the transport delivered together.
   */
  const take = (): Screened[] => {
    const limit = Math.max(16, Math.ceil(queue.length / concurrency))
    const waiting = new Set<string>()
    for (const g of queue) if (!held.has(g.delivery.key)) waiting.add(g.delivery.key)
    // A share is a concurrency-th of the waiting keys, and at least a few of them (`minKeys`), so
    // that a trickle, which starts no other worker, does not go in one transaction per key.
    const keyLimit = Math.max(Math.min(minKeys, waiting.size), Math.ceil(waiting.size / concurrency))
    const group: Screened[] = []
    const rest: Screened[] = []
    const taken = new Set<string>()
    for (const g of queue) {
      const key = g.delivery.key
      const full = group.length >= limit || taken.size >= keyLimit
      if ((held.has(key) && !taken.has(key)) || (full && !taken.has(key))) rest.push(g)
      else {
        group.push(g)
        taken.add(key)
      }
    }
    for (const key of taken) held.add(key)
    queue = rest
    return group
  }

  /** Groups being handled: with the queue, what this replica has in hand. */
  const inFlight = new Set<readonly Screened[]>()
  // What is in hand is told to the transport as still being worked on, every half ack wait: a slow
  // handler, and what waits behind it, are not delivered again elsewhere meanwhile.
  const heartbeat = setInterval(
    () => {
      for (const g of queue) g.delivery.working?.()
      for (const group of inFlight) for (const g of group) g.delivery.working?.()
    },
    Math.max(250, Math.floor(ackWaitMs / 2)),
  )
  heartbeat.unref()

  const work = async () => {
    for (let group = take(); group.length > 0; group = take()) {
      inFlight.add(group)
      await handling
        .handleGroup(a, handler, group)
        .then((held) => {
          if (held) kick()
        })
        .catch((error: unknown) => {
          // The database or the transport failed: nothing was acknowledged, the transport delivers
          // the group again after the ack wait.
          log.error({ err: error, consumer: spec.name }, 'bus delivery failed')
        })
      inFlight.delete(group)
      for (const g of group) held.delete(g.delivery.key)
      inHand -= group.length
      progress.emit('settled')
    }
  }

  // Held messages (a retry, and the key's later messages behind it) are handled from the database when
  // due: woken when this process holds one, else at the next due time or every few seconds (another
  // replica may have held one).
  const wakeHeld = new EventEmitter()
  // Set by a kick that comes while the loop looks (not waiting): its next wait is skipped.
  let heldKicked = false
  const kick = () => {
    heldKicked = true
    wakeHeld.emit('kick')
  }
  const drain = (async () => {
    while (!stopping) {
      let next: number | undefined
      heldKicked = false
      try {
        // One look says whether anything is due: an idle consumer costs one statement a turn.
        next = await handling.nextHeld(a, handler)
        if (next !== undefined && next <= Date.now()) {
          // Up to `concurrency` held keys at once: one key's slow retry does not hold up another's.
          await Promise.all(
            Array.from({ length: concurrency }, async () => {
              while (!stopping && (await handling.handleHeld(a, handler))) {}
            }),
          )
          next = await handling.nextHeld(a, handler)
        }
      } catch (error) {
        log.error({ err: error, consumer: spec.name }, 'bus retry failed')
      }
      if (stopping) break
      if (heldKicked) continue
      const controller = new AbortController()
      const { signal } = controller
      const ms = next === undefined ? heldIdlePollMs : Math.min(heldPollMs, Math.max(5, next - Date.now()))
      await Promise.race([
        once(wakeHeld, 'kick', { signal }).catch(() => undefined),
        sleep(ms, undefined, { signal }).catch(() => undefined),
      ])
      controller.abort()
    }
  })()

  // A worker starts when none runs, or when the backlog can keep one more busy: fewer, larger
  // transactions under a trickle; every worker under a flood or behind slow handlers.
  const eligible = () => queue.reduce((n, g) => (held.has(g.delivery.key) ? n : n + 1), 0)
  const spawn = () => {
    while (workers.size < concurrency && eligible() > (workers.size === 0 ? 0 : spawnThreshold)) {
      const worker: Promise<void> = work().finally(() => {
        workers.delete(worker)
        spawn()
      })
      workers.add(worker)
    }
  }

  const loop = (async () => {
    while (!stopping) {
      if (inHand >= fetchBatch * 2) {
        await once(progress, 'settled')
        continue
      }
      let deliveries: Delivery[]
      try {
        deliveries = await consumer.fetch(fetchBatch, 500)
      } catch (error) {
        log.error({ err: error, consumer: spec.name }, 'bus fetch failed')
        await sleep(1000)
        continue
      }
      // Screened in full before any is queued, so that a worker never sees a later message of a key
      // before an earlier one (dead-lettering an invalid message takes a moment).
      const screened: Screened[] = []
      for (const d of deliveries) {
        const valid = await handling.screen(a, handler, d).catch((error: unknown) => {
          log.error({ err: error, consumer: spec.name }, 'bus delivery failed')
          return undefined
        })
        if (valid !== undefined) screened.push(valid)
      }
      queue.push(...screened)
      inHand += screened.length
      spawn()
    }
  })()
  return {
    kick,
    async stop() {
      stopping = true
      progress.emit('settled')
      kick()
      await consumer.close()
      await loop
      while (workers.size > 0) await Promise.all(workers)
      clearInterval(heartbeat)
      await drain
    },
  }
}
