import type { TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'
import type { TLocalizedValidationError } from 'typebox/error'
import { Settings } from 'typebox/system'
import { Envelope, type MessageCatalog, type MessageContract } from './envelope.ts'

/** One problem with one part of a message, located by a JSON pointer into the envelope. */
export interface Violation {
  readonly path: string
  readonly message: string
}

/**
 * Most raw errors gathered for one invalid value. TypeBox stops at 8 by default as a guard against
 * hostile input; a message is bounded by the bus's size limit, so a larger but finite cap is safe.
 */
const maxErrors = 100

const payloadValidators = new WeakMap<MessageContract, Validator>()
let envelopeValidator: Validator | undefined

function payloadValidator(contract: MessageContract): Validator {
  let validator = payloadValidators.get(contract)
  if (validator === undefined) {
    validator = Compile(contract.schema as TSchema) as Validator
    payloadValidators.set(contract, validator)
  }
  return validator
}

/**
 * Validates a payload against the schema of its type at the catalog's version. Returns every
 * violation (paths under `/data`), or an empty array when the payload is valid. Validators are
 * compiled on first use and cached per contract; the valid path is one compiled check.
 */
export function validatePayload(
  catalog: MessageCatalog,
  type: string,
  version: number,
  data: unknown,
): Violation[] {
  const contract = catalog.messages.get(type)
  if (contract === undefined) return [{ path: '/type', message: `unknown message type "${type}"` }]
  if (version !== contract.version) {
    return [
      {
        path: '/version',
        message: `${type} is at version ${contract.version} in this catalog; version ${version} is not supported`,
      },
    ]
  }
  const validator = payloadValidator(contract)
  if (validator.Check(data)) return []
  return violations(validator, data, '/data')
}

/** Validates the envelope itself (not its payload): paths like `/tenantId`. */
export function validateEnvelope(value: unknown): Violation[] {
  envelopeValidator ??= Compile(Envelope) as unknown as Validator
  if (envelopeValidator.Check(value)) return []
  return violations(envelopeValidator, value, '')
}

/** Every violation of `value` against a compiled validator, as JSON pointers under `prefix`. */
export function violations(validator: Validator, value: unknown, prefix: string): Violation[] {
  const previous = Settings.Get().maxErrors
  Settings.Set({ maxErrors })
  let errors: TLocalizedValidationError[]
  try {
    errors = validator.Errors(value)
  } finally {
    Settings.Set({ maxErrors: previous })
  }
  return toViolations(errors, prefix)
}

/**
 * Turns TypeBox's raw errors into one violation per problem: a missing or unexpected property is
 * reported at its own path, and a union that matched no member is one violation, not one per member.
 */
function toViolations(errors: readonly TLocalizedValidationError[], prefix: string): Violation[] {
  const unions = errors
    .filter((error) => error.keyword === 'anyOf')
    .map((error) => `${error.schemaPath}/anyOf/`)
  const result: Violation[] = []
  const seen = new Set<string>()
  const add = (path: string, message: string) => {
    const key = `${path}\u0000${message}`
    if (seen.has(key)) return
    seen.add(key)
    result.push({ path, message })
  }
  for (const error of errors) {
    const at = `${prefix}${error.instancePath}`
    if (unions.some((union) => `${error.schemaPath}/`.startsWith(union))) continue
    switch (error.keyword) {
      case 'required':
        for (const property of requiredProperties(error))
          add(`${at}/${escapePointer(property)}`, 'is required')
        break
      case 'additionalProperties':
        for (const property of additionalProperties(error))
          add(`${at}/${escapePointer(property)}`, 'is not allowed')
        break
      case 'boolean':
        // `additionalProperties: false` reports each extra property here too (and, past the error cap,
        // only here): the same violation as the case above.
        if (error.schemaPath.endsWith('/additionalProperties')) {
          add(at, 'is not allowed')
          break
        }
        add(at, error.message)
        break
      case 'anyOf':
        add(at, unionMessage(errors, `${error.schemaPath}/anyOf/`))
        break
      default:
        add(at, error.message)
    }
  }
  if (result.length === 0 && errors.length > 0) add(prefix === '' ? '' : prefix, 'is not valid')
  return result
}

function requiredProperties(error: TLocalizedValidationError): string[] {
  const params = error.params as { requiredProperties?: unknown }
  return Array.isArray(params.requiredProperties) ? params.requiredProperties.map(String) : []
}

function additionalProperties(error: TLocalizedValidationError): string[] {
  const params = error.params as { additionalProperties?: unknown }
  return Array.isArray(params.additionalProperties) ? params.additionalProperties.map(String) : []
}

/**
 * `must be one of "a", "b", null` when every member of the union (nested unions included) is a
 * constant or null; a generic message otherwise.
 */
function unionMessage(errors: readonly TLocalizedValidationError[], memberPath: string): string {
  const members = errors.filter(
    (error) => error.schemaPath.startsWith(memberPath) && error.keyword !== 'anyOf',
  )
  const allowed: string[] = []
  for (const error of members) {
    const params = error.params as { allowedValue?: unknown; type?: unknown }
    if (error.keyword === 'const') allowed.push(JSON.stringify(params.allowedValue))
    else if (error.keyword === 'type' && params.type === 'null') allowed.push('null')
    else return 'must match one of the allowed shapes'
  }
  return allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : 'must match one of the allowed shapes'
}

function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}
