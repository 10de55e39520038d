// Hostile values for the fuzz suite (fast-check): what an attacker sends where a schema expects something
// else — NUL and control characters, lone surrogates, long strings, huge and negative numbers, numbers
// JSON can say and JavaScript cannot, the wrong type, prototype names as keys, deep nesting, unknown
// fields — and values shaped by a JSON Schema (as the OpenAPI document gives it) with hostile leaves, so
// that a request passes the outer checks and carries its poison further in.
import fc, { type Arbitrary } from 'fast-check'

/** JSON text written as it is (numbers JavaScript cannot hold, nesting deeper than a value can be built). */
export class RawJson {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

/** A value the serializer writes: JSON values, RawJson leaves, objects whose own keys may be `__proto__`. */
export type Value = null | boolean | number | string | RawJson | Value[] | { [key: string]: Value }

/** A property left out of an object. */
const omitted = Symbol('omitted')
type Omitted = typeof omitted

/** JSON text of a value, keys as they are own properties (a `__proto__` key is written like any other). */
export function toJson(value: Value): string {
  if (value instanceof RawJson) return value.text
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([key, v]) => `${JSON.stringify(key)}:${toJson(v)}`)
      .join(',')}}`
  // NaN and infinities are not JSON; a hostile generator may still make them.
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
  return JSON.stringify(value)
}

/** An object with the given own properties, `__proto__` included (an object literal would set the prototype). */
export function objectOf(entries: readonly (readonly [string, Value | Omitted])[]): {
  [key: string]: Value
} {
  const out: { [key: string]: Value } = {}
  for (const [key, value] of entries) {
    if (value === omitted) continue
    Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true })
  }
  return out
}

export const prototypeNames = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'isPrototypeOf',
] as const

const controlCharacters = Array.from({ length: 32 }, (_, code) => String.fromCharCode(code)).concat('\u007f')

/** Strings no field should take as they are, whatever its schema. */
const nastyStrings = [
  '',
  ' ',
  ' '.repeat(12),
  '\u0000',
  'a\u0000b',
  '\u0000'.repeat(8),
  '\u0001\u0002\u0003\u001b[31m\u007f',
  '\t\n\r\u000b\u000c',
  '\ud800',
  'x\udfffy',
  '\ufeff',
  '\u202eevil',
  '\uffff',
  '%00',
  '%zz',
  '%',
  '..',
  '../../../../etc/passwd',
  "' OR '1'='1",
  "'); DROP TABLE users; --",
  '$' + '{7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'javascript:alert(1)',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '9'.repeat(40),
  'true',
  '[]',
  '{}',
  ...prototypeNames,
]

/** A string carrying the given poison somewhere in it. */
const withInside = (base: Arbitrary<string>, poison: Arbitrary<string>) =>
  fc.tuple(base, poison, fc.nat()).map(([text, bad, at]) => {
    const i = text.length === 0 ? 0 : at % (text.length + 1)
    return `${text.slice(0, i)}${bad}${text.slice(i)}`
  })

const longString = fc
  .tuple(fc.integer({ min: 1_000, max: 120_000 }), fc.constantFrom('a', '\u0000', 'é', '😀', '\ud800', '<'))
  .map(([n, unit]) => unit.repeat(n))

export const hostileString: Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...nastyStrings) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.string({ unit: fc.constantFrom(...controlCharacters), minLength: 1, maxLength: 8 }),
  },
  {
    weight: 2,
    arbitrary: withInside(fc.string({ maxLength: 20 }), fc.constantFrom('\u0000', '\ud800', '\u0007')),
  },
  { weight: 1, arbitrary: longString },
)

export const hostileNumber: Arbitrary<number | RawJson> = fc.oneof(
  fc.constantFrom(
    -0,
    -1,
    -2_147_483_649,
    2_147_483_647,
    2_147_483_648,
    4_294_967_296,
    2 ** 53,
    2 ** 53 + 2,
    2 ** 63,
    2 ** 64,
    1e308,
    -1e308,
    5e-324,
    0.5,
    -0.5,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc
    .constantFrom('1e400', '-1e400', '123456789012345678901234567890', '1.0000000000000000000001', '-0.0')
    .map((text) => new RawJson(text)),
)

/** Nesting deeper than any schema asks for: arrays or objects, written as text. */
export const deepNesting: Arbitrary<RawJson> = fc
  .tuple(fc.integer({ min: 64, max: 5_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays
      ? new RawJson(`${'['.repeat(depth)}1${']'.repeat(depth)}`)
      : new RawJson(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  )

const smallJson: Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant([] as Value[]),
  fc.constant({}),
)

/** Keys an object should not take: prototype names, NUL, empty, long, unknown. */
export const hostileKey: Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...prototypeNames) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '\u0000', 'a\u0000', 'x'.repeat(10_000), 'unknownField', '$where'),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
)

export const protoObject: Arbitrary<Value> = fc
  .array(fc.tuple(hostileKey, smallJson), { minLength: 1, maxLength: 4 })
  .map((entries) => objectOf(entries))

/** A value of another type than the schema's, or of no sensible shape at all. */
export const wrongType: Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  hostileNumber,
  hostileString,
  fc.array(smallJson, { maxLength: 3 }),
  protoObject,
  deepNesting,
  fc.integer({ min: 10_000, max: 100_000 }).map((n) => new RawJson(`[${Array(n).fill('0').join(',')}]`)),
)

/** What a JSON Schema of the OpenAPI document may say, as far as the generator reads it. */
export interface Schema {
  readonly $ref?: string
  readonly type?: string | readonly string[]
  readonly enum?: readonly unknown[]
  readonly const?: unknown
  readonly anyOf?: readonly Schema[]
  readonly oneOf?: readonly Schema[]
  readonly allOf?: readonly Schema[]
  readonly properties?: Readonly<Record<string, Schema>>
  readonly required?: readonly string[]
  readonly additionalProperties?: boolean | Schema
  readonly minProperties?: number
  readonly items?: Schema
  readonly minItems?: number
  readonly maxItems?: number
  readonly format?: string
  readonly pattern?: string
  readonly minLength?: number
  readonly maxLength?: number
  readonly minimum?: number
  readonly maximum?: number
  readonly examples?: readonly unknown[]
  readonly default?: unknown
}

export interface ShapeOptions {
  /** Resolves `#/components/schemas/…`. */
  readonly resolve: (ref: string) => Schema
  /**
   * For a property of this name, what to send instead of what its schema would give: a valid value and
   * hostile ones (a deploy.yaml text is a string to its schema, a document to what reads it).
   */
  readonly byName?: Readonly<
    Record<string, { readonly valid: Arbitrary<Value>; readonly hostile: Arbitrary<Value> }>
  >
}

const resolved = (schema: Schema, options: ShapeOptions) =>
  schema.$ref === undefined ? schema : options.resolve(schema.$ref)

/**
 * A value close to what `schema` accepts: mostly valid but for one place (a field, an element, a field of
 * a field), so that it passes the outer checks and carries its poison in; now and then valid throughout,
 * or hostile as a whole.
 */
export function shaped(schema: Schema, options: ShapeOptions, depth = 0, name?: string): Arbitrary<Value> {
  return fc.oneof(
    { weight: 1, arbitrary: validOf(schema, options, depth, name) },
    { weight: 4, arbitrary: poisoned(schema, options, depth, name) },
    { weight: 1, arbitrary: hostileFor(resolved(schema, options), options, depth) },
  )
}

function typesOf(schema: Schema): string[] {
  if (schema.type === undefined) return schema.properties === undefined ? [] : ['object']
  return typeof schema.type === 'string' ? [schema.type] : [...schema.type]
}

function validString(schema: Schema): Arbitrary<string> {
  if (schema.enum !== undefined) return fc.constantFrom(...(schema.enum as string[]))
  const min = schema.minLength ?? 0
  const max = Math.min(schema.maxLength ?? 40, Math.max(min, 40))
  switch (schema.format) {
    case 'uuid':
      return fc.uuid()
    case 'email':
      return fc.emailAddress().filter((e) => e.length <= (schema.maxLength ?? 254))
    case 'date-time':
      return fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString())
    case 'uri':
      return fc.webUrl()
  }
  if (schema.pattern !== undefined)
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter((s) => s.length >= min && s.length <= (schema.maxLength ?? 10_000))
  return fc.string({ minLength: min, maxLength: max })
}

/** Fields the schema does not name, now and then: an unknown one, a prototype name. */
const extraFields = fc.oneof(
  { weight: 5, arbitrary: fc.constant([] as (readonly [string, Value])[]) },
  { weight: 1, arbitrary: fc.array(fc.tuple(hostileKey, smallJson), { minLength: 1, maxLength: 2 }) },
)

/** What `schema` accepts, as far as the generator can tell. */
function validOf(schema: Schema, options: ShapeOptions, depth: number, name?: string): Arbitrary<Value> {
  const named = name === undefined ? undefined : options.byName?.[name]
  if (named !== undefined) return named.valid
  const s = resolved(schema, options)
  if (depth > 6) return smallJson
  if (s.const !== undefined) return fc.constant(s.const as Value)
  if (s.enum !== undefined) return fc.constantFrom(...(s.enum as Value[]))
  const alternatives = s.anyOf ?? s.oneOf
  if (alternatives !== undefined && alternatives.length > 0)
    return fc.oneof(...alternatives.map((a) => validOf(a, options, depth + 1)))
  if (s.allOf !== undefined && s.allOf.length > 0) return validOf(s.allOf[0] as Schema, options, depth + 1)
  const types = typesOf(s)
  if (types.length > 1) return fc.oneof(...types.map((type) => validOf({ ...s, type }, options, depth)))
  switch (types[0]) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
      return fc.integer({
        min: Math.max(s.minimum ?? -1_000, -(2 ** 31)),
        max: Math.min(s.maximum ?? 1_000_000, 2 ** 31 - 1),
      })
    case 'number':
      return fc.double({
        min: s.minimum ?? -1e6,
        max: s.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      })
    case 'string':
      return validString(s)
    case 'array':
      return fc.array(validOf(s.items ?? {}, options, depth + 1), {
        minLength: s.minItems ?? 0,
        maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 3)),
      })
    case 'object':
      return fc
        .tuple(fc.tuple(...fieldsOf(s, options, depth, -1)), additionalOf(s, options, depth, false))
        .map(([known, more]) => objectOf([...known, ...more]))
    default:
      return smallJson
  }
}

/** The fields of an object schema, valid, but the one at `poisonAt` (-1: none), which is poisoned. */
function fieldsOf(schema: Schema, options: ShapeOptions, depth: number, poisonAt: number) {
  const required = new Set(schema.required ?? [])
  return Object.entries(schema.properties ?? {}).map(([key, property], index) => {
    if (index === poisonAt) return poisoned(property, options, depth + 1, key).map((v) => [key, v] as const)
    const value = validOf(property, options, depth + 1, key)
    const present: Arbitrary<Value | Omitted> = required.has(key)
      ? value
      : fc.option(value, { nil: omitted, freq: 2 })
    return present.map((v) => [key, v] as const)
  })
}

/** The entries of a record (additionalProperties: a schema), valid, or with one poisoned key or value. */
function additionalOf(schema: Schema, options: ShapeOptions, depth: number, poison: boolean) {
  const values = schema.additionalProperties
  if (typeof values !== 'object') return fc.constant([] as (readonly [string, Value])[])
  const key = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 })
  const valid = fc.array(fc.tuple(key, validOf(values, options, depth + 1)), { maxLength: 3 })
  if (!poison) return valid
  const bad = fc.oneof(
    fc.tuple(hostileKey, validOf(values, options, depth + 1)),
    fc.tuple(key, poisoned(values, options, depth + 1)),
  )
  return fc.tuple(valid, bad).map(([entries, one]) => [...entries, one])
}

/** Valid but for one place, chosen at random, down to a leaf, which is hostile. */
function poisoned(schema: Schema, options: ShapeOptions, depth: number, name?: string): Arbitrary<Value> {
  const named = name === undefined ? undefined : options.byName?.[name]
  if (named !== undefined) return named.hostile
  const s = resolved(schema, options)
  if (depth > 6) return hostileFor(s, options, depth)
  const alternatives = s.anyOf ?? s.oneOf
  if (alternatives !== undefined && alternatives.length > 0)
    return fc.oneof(
      ...alternatives.map((a) => poisoned(a, options, depth + 1)),
      hostileFor(s, options, depth),
    )
  const types = typesOf(s)
  if (types.includes('object')) {
    const count = Object.keys(s.properties ?? {}).length
    const records = typeof s.additionalProperties === 'object'
    if (count === 0 && !records) return hostileFor(s, options, depth)
    // One field poisoned (or, for a record, one entry), unknown fields now and then.
    const at = count === 0 ? fc.constant(-1) : fc.integer({ min: records ? -1 : 0, max: count - 1 })
    return fc.oneof(
      {
        weight: 5,
        arbitrary: at.chain((index) =>
          fc
            .tuple(
              fc.tuple(...fieldsOf(s, options, depth, index)),
              additionalOf(s, options, depth, index === -1),
              extraFields,
            )
            .map(([known, more, unknown]) => objectOf([...known, ...more, ...unknown])),
        ),
      },
      { weight: 1, arbitrary: hostileFor(s, options, depth) },
    )
  }
  if (types.includes('array') && s.items !== undefined) {
    const items = s.items
    return fc.oneof(
      fc
        .tuple(
          fc.array(validOf(items, options, depth + 1), { maxLength: 2 }),
          poisoned(items, options, depth + 1),
        )
        .map(([valid, bad]) => [...valid, bad]),
      hostileFor(s, options, depth),
    )
  }
  return hostileFor(s, options, depth)
}

/** A hostile value in place of one `schema` describes, aimed at its type. */
function hostileFor(schema: Schema, options: ShapeOptions, depth: number): Arbitrary<Value> {
  const types = typesOf(schema)
  if (types.includes('string')) {
    const base = validString(schema)
    const max = schema.maxLength
    return fc.oneof(
      {
        weight: 4,
        arbitrary: withInside(base, fc.constant('\u0000')),
      },
      {
        weight: 2,
        arbitrary: withInside(base, fc.constantFrom('\u0001', '\u001f', '\u007f', '\ud800', '\u202e')),
      },
      { weight: 2, arbitrary: hostileString },
      { weight: 1, arbitrary: wrongType },
      ...(max === undefined ? [] : [{ weight: 1, arbitrary: fc.constant('x'.repeat(max + 1)) }]),
    )
  }
  if (types.includes('integer') || types.includes('number')) {
    const edges: number[] = []
    if (schema.minimum !== undefined) edges.push(schema.minimum - 1)
    if (schema.maximum !== undefined) edges.push(schema.maximum + 1)
    return fc.oneof(
      hostileNumber,
      wrongType,
      fc.constantFrom('1', '0x10', '1e3', ' 7 ', ...edges.map(String)),
      ...(edges.length === 0 ? [] : [fc.constantFrom(...edges)]),
    )
  }
  if (types.includes('boolean')) return fc.oneof(wrongType, fc.constantFrom('true', 'false', 0, 1, 'yes'))
  if (types.includes('array'))
    return fc.oneof(
      wrongType,
      deepNesting,
      fc.array(hostileString, { minLength: 1, maxLength: 3 }),
      fc.constant(Array(schema.maxItems === undefined ? 2_000 : schema.maxItems + 1).fill('a') as Value[]),
    )
  if (types.includes('object'))
    return fc.oneof(
      wrongType,
      deepNesting,
      protoObject,
      validOf(schema, options, depth + 1).map((value) =>
        value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof RawJson)
          ? objectOf([
              ...Object.entries(value),
              ['unknownField', 'x'],
              ['constructor', { prototype: { polluted: true } }],
            ])
          : value,
      ),
    )
  return wrongType
}
