import type { JSONSchema } from './json-schema.ts'

/**
 * The backward-incompatible differences between the previous and the next JSON Schema of a payload,
 * one line each (`<path>: <what changed>`), or none. A change is incompatible when a payload the
 * previous schema accepted is refused by the next one (producers still on the old version, messages
 * stored in the log and replayed), or when it takes away something consumers of the old schema rely
 * on (a property, or a property being always present). Paths are JSON pointers into the payload,
 * with `*` for every item of an array. Descriptions, new optional properties and widened
 * constraints are compatible.
 */
export function compatibilityProblems(previous: JSONSchema, next: JSONSchema): string[] {
  const problems: string[] = []
  compare(previous, next, '', problems)
  return problems
}

const lowerBounds = ['minLength', 'minItems', 'minProperties', 'minimum', 'exclusiveMinimum'] as const
const upperBounds = ['maxLength', 'maxItems', 'maxProperties', 'maximum', 'exclusiveMaximum'] as const
const exactKeywords = ['pattern', 'format', 'multipleOf'] as const

function compare(previous: JSONSchema, next: JSONSchema, path: string, problems: string[]): void {
  const at = path === '' ? '/' : path
  if (Array.isArray(previous.anyOf) || Array.isArray(next.anyOf)) {
    compareUnions(previous, next, path, problems)
    return
  }
  compareTypes(previous, next, at, problems)
  compareValues(previous, next, at, problems)
  for (const keyword of lowerBounds) {
    const before = numberOf(previous[keyword])
    const after = numberOf(next[keyword])
    if (after !== undefined && (before === undefined || after > before)) {
      problems.push(`${at}: ${keyword} tightened from ${before ?? 'none'} to ${after}`)
    }
  }
  for (const keyword of upperBounds) {
    const before = numberOf(previous[keyword])
    const after = numberOf(next[keyword])
    if (after !== undefined && (before === undefined || after < before)) {
      problems.push(`${at}: ${keyword} tightened from ${before ?? 'none'} to ${after}`)
    }
  }
  for (const keyword of exactKeywords) {
    const before = previous[keyword]
    const after = next[keyword]
    if (after !== undefined && after !== before) {
      problems.push(
        before === undefined
          ? `${at}: ${keyword} ${JSON.stringify(after)} added`
          : `${at}: ${keyword} changed from ${JSON.stringify(before)} to ${JSON.stringify(after)}`,
      )
    }
  }
  if (next.uniqueItems === true && previous.uniqueItems !== true)
    problems.push(`${at}: items must now be unique`)
  compareObjects(previous, next, path, problems)
  compareArrays(previous, next, path, problems)
}

/** Every member of the previous union must be accepted by some member of the next. */
function compareUnions(previous: JSONSchema, next: JSONSchema, path: string, problems: string[]): void {
  const at = path === '' ? '/' : path
  const nextMembers = membersOf(next)
  for (const member of membersOf(previous)) {
    if (nextMembers.some((candidate) => compatibilityProblems(member, candidate).length === 0)) continue
    const sameType = nextMembers.filter((candidate) => sameTypes(member, candidate))
    const [only] = sameType
    if (sameType.length === 1 && only !== undefined && member.const === undefined)
      compare(member, only, path, problems)
    else problems.push(`${at}: no longer accepts ${describe(member)}`)
  }
}

function compareTypes(previous: JSONSchema, next: JSONSchema, at: string, problems: string[]): void {
  const after = typesOf(next)
  if (after === undefined) return
  const before = typesOf(previous)
  if (before === undefined) {
    problems.push(`${at}: now restricted to type ${[...after].join(' | ')}`)
    return
  }
  const lost = [...before].filter((type) => !after.has(type) && !(type === 'integer' && after.has('number')))
  if (lost.length > 0) {
    problems.push(`${at}: type changed from ${[...before].join(' | ')} to ${[...after].join(' | ')}`)
  }
}

function compareValues(previous: JSONSchema, next: JSONSchema, at: string, problems: string[]): void {
  const after = valuesOf(next)
  if (after === undefined) return
  const before = valuesOf(previous)
  if (before === undefined) {
    problems.push(`${at}: now restricted to ${after.map((value) => JSON.stringify(value)).join(', ')}`)
    return
  }
  const lost = before.filter((value) => !after.some((candidate) => sameJson(candidate, value)))
  if (lost.length > 0) {
    problems.push(`${at}: no longer accepts ${lost.map((value) => JSON.stringify(value)).join(', ')}`)
  }
}

function compareObjects(previous: JSONSchema, next: JSONSchema, path: string, problems: string[]): void {
  const at = path === '' ? '/' : path
  const before = recordOf(previous.properties)
  const after = recordOf(next.properties)
  const requiredBefore = new Set(stringsOf(previous.required))
  const requiredAfter = new Set(stringsOf(next.required))
  for (const [name, schema] of Object.entries(before)) {
    const child = `${path}/${escapePointer(name)}`
    const successor = after[name]
    if (successor === undefined) {
      problems.push(`${child}: property removed`)
      continue
    }
    compare(schema, successor, child, problems)
    if (requiredBefore.has(name) && !requiredAfter.has(name)) {
      problems.push(`${child}: no longer required (consumers rely on it being present)`)
    }
  }
  for (const name of requiredAfter) {
    if (!requiredBefore.has(name)) {
      problems.push(
        `${path}/${escapePointer(name)}: ${name in before ? 'now required' : 'new required property'}`,
      )
    }
  }
  const extraBefore = previous.additionalProperties
  const extraAfter = next.additionalProperties
  if (extraAfter === false && extraBefore !== false) {
    problems.push(`${at}: additional properties no longer allowed`)
  } else if (isSchema(extraAfter)) {
    if (isSchema(extraBefore)) compare(extraBefore, extraAfter, `${path}/*`, problems)
    else if (extraBefore !== false) problems.push(`${at}: additional properties now constrained`)
  }
}

function compareArrays(previous: JSONSchema, next: JSONSchema, path: string, problems: string[]): void {
  const after = next.items
  if (!isSchema(after)) return
  const before = previous.items
  if (isSchema(before)) compare(before, after, `${path}/*`, problems)
  else problems.push(`${path === '' ? '/' : path}: items now constrained`)
}

function membersOf(schema: JSONSchema): JSONSchema[] {
  return Array.isArray(schema.anyOf) ? schema.anyOf.filter(isSchema) : [schema]
}

function typesOf(schema: JSONSchema): Set<string> | undefined {
  const type = schema.type
  if (typeof type === 'string') return new Set([type])
  if (Array.isArray(type)) return new Set(type.map(String))
  return undefined
}

function valuesOf(schema: JSONSchema): unknown[] | undefined {
  if ('const' in schema) return [schema.const]
  if (Array.isArray(schema.enum)) return schema.enum
  return undefined
}

function sameTypes(left: JSONSchema, right: JSONSchema): boolean {
  const a = typesOf(left)
  const b = typesOf(right)
  if (a === undefined || b === undefined) return a === b
  return [...a].some((type) => b.has(type) || (type === 'integer' && b.has('number')))
}

function describe(schema: JSONSchema): string {
  if ('const' in schema) return JSON.stringify(schema.const)
  const types = typesOf(schema)
  return types === undefined ? 'a member of the union' : [...types].join(' | ')
}

function isSchema(value: unknown): value is JSONSchema {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function recordOf(value: unknown): Record<string, JSONSchema> {
  if (!isSchema(value)) return {}
  const record: Record<string, JSONSchema> = {}
  for (const [name, schema] of Object.entries(value)) if (isSchema(schema)) record[name] = schema
  return record
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined
}

function sameJson(left: unknown, right: unknown): boolean {
  return JSON.stringify(left) === JSON.stringify(right)
}

function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}
