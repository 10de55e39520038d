import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { compatibilityProblems } from './compatibility.ts'
import { type JSONSchema, toJsonSchema } from './json-schema.ts'

const object = (properties: Record<string, JSONSchema>, required: string[] = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
})
const string = (extra: JSONSchema = {}): JSONSchema => ({ type: 'string', ...extra })

/** Asserts `from → to` is incompatible with a problem containing `problem`, and `to → from` is compatible. */
function expectNarrowing(from: JSONSchema, to: JSONSchema, problem: string): void {
  const problems = compatibilityProblems(from, to)
  expect(problems).toEqual([expect.stringContaining(problem)])
  expect(compatibilityProblems(to, from)).toEqual([])
}

describe('compatibilityProblems', () => {
  it('finds nothing between a schema and itself, or when only descriptions change', () => {
    const schema = object({ envId: string({ minLength: 1, maxLength: 128, description: 'old' }) })
    expect(compatibilityProblems(schema, schema)).toEqual([])
    expect(
      compatibilityProblems(
        schema,
        object({ envId: string({ minLength: 1, maxLength: 128, description: 'new' }) }),
      ),
    ).toEqual([])
  })

  it('a removed property is breaking; a new optional property is not', () => {
    const before = object({ envId: string(), reason: string() })
    const after = object({ envId: string() })
    expect(compatibilityProblems(before, after)).toEqual(['/reason: property removed'])
    const withOptional = object({ envId: string(), reason: string(), note: string() }, ['envId', 'reason'])
    expect(compatibilityProblems(before, withOptional)).toEqual([])
  })

  it('a property newly required is breaking, whether it is new or was optional', () => {
    const before = object({ envId: string(), note: string() }, ['envId'])
    expect(compatibilityProblems(before, object({ envId: string(), note: string() }))).toEqual([
      '/note: now required',
    ])
    expect(
      compatibilityProblems(
        before,
        object({ envId: string(), note: string(), added: string() }, ['envId', 'added']),
      ),
    ).toEqual(['/added: new required property'])
  })

  it('a required property becoming optional is breaking for consumers; the reverse is a new requirement', () => {
    const required = object({ envId: string() })
    const optional = object({ envId: string() }, [])
    expect(compatibilityProblems(required, optional)).toEqual([
      '/envId: no longer required (consumers rely on it being present)',
    ])
    expect(compatibilityProblems(optional, required)).toEqual(['/envId: now required'])
  })

  it('a changed type is breaking both ways', () => {
    expect(compatibilityProblems({ type: 'string' }, { type: 'integer' })).toEqual([
      '/: type changed from string to integer',
    ])
    expect(compatibilityProblems({ type: 'integer' }, { type: 'string' })).toEqual([
      '/: type changed from integer to string',
    ])
  })

  it('number → integer narrows; integer → number widens', () => {
    expectNarrowing({ type: 'number' }, { type: 'integer' }, 'type changed from number to integer')
  })

  it('a union losing a member narrows; gaining one widens', () => {
    const two = toJsonSchema(Type.Union([Type.Literal('sddc-flex'), Type.Literal('rxt-spot')]))
    const one = toJsonSchema(Type.Union([Type.Literal('sddc-flex')]))
    expectNarrowing(two, one, 'no longer accepts "rxt-spot"')
    const nullable = toJsonSchema(Type.Union([Type.String(), Type.Null()]))
    expectNarrowing(nullable, toJsonSchema(Type.String()), 'no longer accepts null')
  })

  it('an enum or const losing a value narrows', () => {
    expectNarrowing({ enum: ['a', 'b', 'c'] }, { enum: ['a', 'c'] }, 'no longer accepts "b"')
    expectNarrowing({ type: 'string' }, { type: 'string', const: 'a' }, 'now restricted to "a"')
    expectNarrowing({ enum: ['a', 'b'] }, { const: 'a' }, 'no longer accepts "b"')
  })

  it('tighter length, range and item bounds narrow; looser ones widen', () => {
    expectNarrowing(string({ minLength: 1 }), string({ minLength: 3 }), 'minLength tightened from 1 to 3')
    expectNarrowing(
      string({ maxLength: 128 }),
      string({ maxLength: 64 }),
      'maxLength tightened from 128 to 64',
    )
    expectNarrowing(string(), string({ maxLength: 64 }), 'maxLength tightened from none to 64')
    expectNarrowing({ type: 'integer', minimum: 0 }, { type: 'integer', minimum: 1 }, 'minimum tightened')
    expectNarrowing({ type: 'number', maximum: 1 }, { type: 'number', maximum: 0.5 }, 'maximum tightened')
    expectNarrowing(
      { type: 'array', items: string(), maxItems: 10 },
      { type: 'array', items: string(), maxItems: 5 },
      'maxItems tightened',
    )
  })

  it('a new or changed pattern or format is breaking; dropping one widens', () => {
    expectNarrowing(string(), string({ pattern: '^[a-z]+$' }), 'pattern "^[a-z]+$" added')
    expect(
      compatibilityProblems(string({ pattern: '^[a-z]+$' }), string({ pattern: '^[a-z0-9]+$' })),
    ).toEqual(['/: pattern changed from "^[a-z]+$" to "^[a-z0-9]+$"'])
    expectNarrowing(string(), string({ format: 'uuid' }), 'format "uuid" added')
  })

  it('closing an object narrows; opening it widens', () => {
    const open = { type: 'object', properties: { a: string() }, required: ['a'] }
    expectNarrowing(
      open,
      { ...open, additionalProperties: false },
      '/: additional properties no longer allowed',
    )
    expectNarrowing(
      { ...open, additionalProperties: true },
      { ...open, additionalProperties: false },
      'additional properties no longer allowed',
    )
  })

  it('looks into nested objects and array items, and says where', () => {
    const before = object({
      candidates: { type: 'array', items: object({ platform: string(), score: { type: 'number' } }) },
    })
    const after = object({
      candidates: { type: 'array', items: object({ platform: string(), score: { type: 'integer' } }) },
    })
    expect(compatibilityProblems(before, after)).toEqual([
      '/candidates/*/score: type changed from number to integer',
    ])
    expect(compatibilityProblems(after, before)).toEqual([])
    const removedNested = object({
      candidates: { type: 'array', items: object({ platform: string() }) },
    })
    expect(compatibilityProblems(before, removedNested)).toEqual(['/candidates/*/score: property removed'])
  })

  it('looks into the members of a nullable object', () => {
    const before = toJsonSchema(
      Type.Union([
        Type.Object({ port: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        Type.Null(),
      ]),
    )
    const after = toJsonSchema(
      Type.Union([
        Type.Object({ port: Type.Integer({ minimum: 80 }) }, { additionalProperties: false }),
        Type.Null(),
      ]),
    )
    expect(compatibilityProblems(before, after)).toEqual(['/port: minimum tightened from 1 to 80'])
    expect(compatibilityProblems(after, before)).toEqual([])
  })
})
