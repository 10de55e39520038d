import { violations } from '@rxt/contracts'
import type { TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'
import { FailureCode, failure, type PlatformFailure } from './compute-platform.ts'

const validators = new WeakMap<TSchema, Validator>()

/**
 * The `invalid` failure of a request that breaks its schema (every problem, by JSON pointer), or
 * undefined when it is valid. Adapters check every request with it before any work.
 */
export function checkRequest(schema: TSchema, request: unknown): PlatformFailure | undefined {
  let validator = validators.get(schema)
  if (validator === undefined) {
    validator = Compile(schema) as unknown as Validator
    validators.set(schema, validator)
  }
  if (validator.Check(request)) return undefined
  const problems = violations(validator, request, '')
  return failure(
    FailureCode.invalid,
    problems.map((p) => `${p.path === '' ? 'the request' : p.path} ${p.message}`).join('; '),
  )
}
