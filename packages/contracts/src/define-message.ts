import type { TSchema } from 'typebox'
import type { MessageContract } from './envelope.ts'

/**
 * Declares one message contract. It only returns its argument, but it ties the fixture's type to the
 * schema so that a fixture that does not fit the schema fails to compile.
 */
export function defineMessage<S extends TSchema>(contract: MessageContract<S>): MessageContract<S> {
  return contract
}
