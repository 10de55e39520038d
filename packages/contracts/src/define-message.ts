import type { TSchema } from 'typebox'
import type { MessageContract } from './envelope.ts'

/**
 * Declares one message contract. It only returns its argument, but it ties the fixture's type to the
 * schema, so that a fixture that does not fit the schema fails to compile, and keeps `type` a literal,
 * so that a handler of several contracts can tell their messages apart by it.
 */
export function defineMessage<S extends TSchema, const T extends string>(
  contract: MessageContract<S, T>,
): MessageContract<S, T> {
  return contract
}
