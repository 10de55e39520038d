// What a consumer does with a delivery before handling it: parsed and validated, or dead-lettered with
// the reason and acknowledged at once, so that one bad message never blocks a consumer.
import type { Envelope } from '@rxt/contracts'
import type { Violation } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type Attached, consumerName, type MessageHandler } from './handler.ts'
import type { BusMetrics } from './metrics.ts'
import type { Delivery } from './transport.ts'

/** A delivery whose envelope parsed and validated. */
export interface Screened {
  readonly delivery: Delivery
  readonly envelope: Envelope
  duplicate?: boolean
}

export function createScreening(options: {
  readonly log: Logger
  readonly metrics: BusMetrics
  readonly violationsOf: (envelope: unknown) => Violation[]
}) {
  const { log, metrics: m, violationsOf } = options

  const deadLetter = async (
    a: Attached,
    consumer: string,
    body: string,
    envelope: unknown,
    error: string,
    deliveries: number,
  ) => {
    await a.deadLetters.add(consumer, body, envelope, error, deliveries)
    m.deadLettered.inc({ consumer })
  }

  /**
   * Parses and validates a delivery; an invalid one is dead-lettered with the reason and acked at once
   * (undefined), so that one bad message never blocks a consumer.
   */
  const screen = async (a: Attached, handler: MessageHandler, d: Delivery): Promise<Screened | undefined> => {
    const consumer = consumerName(a.context, handler)
    m.delivered.inc({ consumer })
    if (d.deliveryCount > 1) m.redelivered.inc({ consumer })
    let envelope: unknown
    try {
      envelope = JSON.parse(d.body)
    } catch (error) {
      await deadLetter(
        a,
        consumer,
        d.body,
        undefined,
        `not JSON: ${(error as Error).message}`,
        d.deliveryCount,
      )
      await d.ack()
      return undefined
    }
    const violations = violationsOf(envelope)
    if (violations.length > 0) {
      const text = `invalid message: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`
      log.warn({ consumer, type: d.type, violations }, 'invalid message dead-lettered')
      await deadLetter(a, consumer, d.body, envelope, text, d.deliveryCount)
      await d.ack()
      return undefined
    }
    return { delivery: d, envelope: envelope as Envelope }
  }
  return screen
}
