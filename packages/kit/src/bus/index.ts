export type { NearLimit } from './backlog.ts'
export { type BackoffPolicy, backoffDelay } from './backoff.ts'
export {
  type Bus,
  type BusOptions,
  type ConsumerStatus,
  type ContextBus,
  createBus,
  type DeadLetter,
  type HandlerContext,
  type MessageHandler,
  type PublishInput,
} from './bus.ts'
export { createNatsTransport, familyOf, type NatsTransportOptions } from './nats.ts'
export {
  type HandlerOptions,
  type HandlerResult,
  handlerIdOf,
  on,
  type PayloadHandler,
  tenantOfMessage,
  type UnionHandler,
} from './on.ts'
export { createPostgresLog, type PostgresLogOptions } from './postgres-log.ts'
export type {
  ConsumerBacklog,
  ConsumerSpec,
  Delivery,
  OutboundMessage,
  ReplayFrom,
  StreamFill,
  Transport,
  TransportConsumer,
} from './transport.ts'
