import fc from 'fast-check'
import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { closedObject, closedRecord } from './fields.ts'
import { createYamlLoader, type YamlResult } from './yaml-document.ts'

/** The names every plain object inherits, and `prototype`: keys a copy or a lookup can get wrong. */
const prototypeNames = [
  ...new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype', 'constructor']),
].filter((name) => name !== '__proto__')

const Document = closedObject({
  apiVersion: Type.Literal('test/v1'),
  vars: Type.Optional(closedRecord(Type.String({ minLength: 1, maxLength: 64 }), Type.String())),
  inner: Type.Optional(
    closedObject({ known: Type.Optional(Type.String()), level: Type.Integer({ default: 3 }) }),
  ),
  other: Type.Optional(closedObject({ known: Type.Optional(Type.String()) })),
})

const load = createYamlLoader<typeof Document, Record<string, unknown>>({
  fileName: 'test.yaml',
  schema: Document,
  maxBytes: 64 * 1024,
  apiVersions: ['test/v1'],
  topLevel: 'apiVersion, vars, inner',
})

const violationsOf = (result: YamlResult<unknown>) => (result.ok ? [] : result.violations)
/** A YAML double-quoted key (JSON's escapes are YAML's). */
const quoted = (key: string) => JSON.stringify(key)
const keyName = fc.oneof(fc.constantFrom(...prototypeNames), fc.string({ minLength: 1, maxLength: 12 }))

describe('createYamlLoader: keys are keys, whatever their name', () => {
  it('keeps every key of a mapping the schema opens to any name, prototype names included', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(keyName, fc.string({ maxLength: 8 })), {
          selector: ([key]) => key,
          maxLength: 12,
          minLength: 1,
        }),
        (entries) => {
          const kept = entries.filter(([key]) => key !== '__proto__')
          const text = `apiVersion: test/v1\nvars:\n${kept.map(([k, v]) => `  ${quoted(k)}: ${quoted(v)}`).join('\n')}\n`
          const result = load(text)
          expect(violationsOf(result)).toEqual([])
          if (!result.ok) return
          const vars = result.value.vars as Record<string, string>
          expect(Object.keys(vars).sort()).toEqual(kept.map(([k]) => k).sort())
          for (const [key, value] of kept) {
            expect(Object.hasOwn(vars, key)).toBe(true)
            expect(vars[key]).toBe(value)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('refuses every key a closed mapping does not name, prototype names included, where it is written', () => {
    fc.assert(
      fc.property(
        keyName.filter((key) => key !== '__proto__' && key !== 'known' && key !== 'level'),
        (key) => {
          const text = `apiVersion: test/v1\ninner:\n  known: x\n  ${quoted(key)}: {a: 1}\n`
          const pointer = `/inner/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`
          expect(violationsOf(load(text))).toEqual([
            { path: pointer, message: 'is not allowed', line: 4, column: 3 },
          ])
        },
      ),
      { numRuns: 300 },
    )
  })

  it.each(prototypeNames)('refuses a top-level key %s as an unknown field', (name) => {
    expect(violationsOf(load(`apiVersion: test/v1\n${name}: {a: 1}\n`))).toEqual([
      { path: `/${name}`, message: 'is not allowed', line: 2, column: 1 },
    ])
  })

  it('refuses __proto__ wherever it is, naming each path and line', () => {
    const text = [
      'apiVersion: test/v1',
      'vars:',
      '  A: x',
      '  __proto__: y',
      'inner:',
      '  "__proto__": {known: z}',
    ].join('\n')
    expect(violationsOf(load(text))).toEqual([
      {
        path: '/inner/__proto__',
        message: 'is not allowed: no key in a test.yaml may be named __proto__',
        line: 6,
        column: 3,
      },
      {
        path: '/vars/__proto__',
        message: 'is not allowed: no key in a test.yaml may be named __proto__',
        line: 4,
        column: 3,
      },
    ])
  })

  it.each([
    ['a top-level __proto__', 'apiVersion: test/v1\n__proto__: {polluted: yes}\n'],
    ['a quoted __proto__', 'apiVersion: test/v1\n"__proto__": {polluted: yes}\n'],
    ['an explicit __proto__ key', 'apiVersion: test/v1\n? __proto__\n: {polluted: yes}\n'],
    ['a flow mapping', '{apiVersion: test/v1, vars: {__proto__: {polluted: yes}}}\n'],
    ['a tagged mapping', 'apiVersion: test/v1\ninner: !!map {__proto__: {polluted: yes}}\n'],
    ['an alias', 'apiVersion: test/v1\nother: &p {polluted: yes}\ninner: {__proto__: *p}\n'],
    ['constructor.prototype', 'apiVersion: test/v1\nconstructor: {prototype: {polluted: yes}}\n'],
    [
      'vars.constructor.prototype',
      'apiVersion: test/v1\nvars: {constructor: {prototype: {polluted: yes}}}\n',
    ],
    ['a merge key', 'apiVersion: test/v1\ninner:\n  <<: {__proto__: {polluted: yes}}\n'],
  ])('leaves Object.prototype alone on %s, and refuses it', (_name, text) => {
    const result = load(text)
    expect(result.ok).toBe(false)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
  })

  it('walks aliases out: a default written at one place never appears at another sharing the mapping', () => {
    const result = load('apiVersion: test/v1\ninner: &m {known: x}\nother: *m\n')
    expect(violationsOf(result)).toEqual([])
    expect(result.ok && result.value).toEqual({
      apiVersion: 'test/v1',
      inner: { known: 'x', level: 3 },
      other: { known: 'x' },
    })
  })
})
