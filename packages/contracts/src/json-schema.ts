import type { TSchema } from 'typebox'

/** A JSON Schema as plain JSON (what TypeBox schemas serialise to). */
export type JSONSchema = { readonly [keyword: string]: unknown }

/** A TypeBox schema as plain JSON: a deep copy without TypeBox's non-enumerable markers. */
export function toJsonSchema(schema: TSchema): JSONSchema {
  return JSON.parse(JSON.stringify(schema)) as JSONSchema
}

/** The line width the repository formats JSON to (biome.json). */
const lineWidth = 110

/**
 * The canonical text of a schema: keys sorted at every level, `required` sorted (it is a set),
 * two-space indentation, arrays of scalars on one line when they fit, and a final newline — the
 * layout biome gives JSON, so formatting the repository leaves snapshots alone. Reordering
 * properties in the source does not change it.
 */
export function canonicalJson(schema: JSONSchema): string {
  return `${render(canonicalize(schema), '', 0)}\n`
}

/** The same schema text, whatever its layout or key order. */
export function sameCanonicalJson(left: string, right: string): boolean {
  try {
    return canonicalJson(JSON.parse(left) as JSONSchema) === canonicalJson(JSON.parse(right) as JSONSchema)
  } catch {
    return false
  }
}

function canonicalize(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) {
    const items = value.map((item) => canonicalize(item))
    return key === 'required' && items.every((item) => typeof item === 'string') ? items.sort() : items
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    const sorted: Record<string, unknown> = {}
    for (const name of Object.keys(record).sort()) sorted[name] = canonicalize(record[name], name)
    return sorted
  }
  return value
}

/** `value` laid out at `indent`, where its first line already holds `used` characters and is followed by `trailing` more. */
function render(value: unknown, indent: string, used: number, trailing = 0): string {
  const inner = `${indent}  `
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    if (value.every((item) => item === null || typeof item !== 'object')) {
      const line = `[${value.map((item) => JSON.stringify(item)).join(', ')}]`
      if (used + line.length + trailing <= lineWidth) return line
    }
    const items = value.map(
      (item, index) => `${inner}${render(item, inner, inner.length, index < value.length - 1 ? 1 : 0)}`,
    )
    return `[\n${items.join(',\n')}\n${indent}]`
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
    if (entries.length === 0) return '{}'
    const lines = entries.map(([name, item], index) => {
      const prefix = `${inner}${JSON.stringify(name)}: `
      return `${prefix}${render(item, inner, prefix.length, index < entries.length - 1 ? 1 : 0)}`
    })
    return `{\n${lines.join(',\n')}\n${indent}}`
  }
  return JSON.stringify(value)
}
