import { CORE_SCHEMA, load } from 'js-yaml'
import type { Static, TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'
import { Value } from 'typebox/value'
import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml'
import { type Violation, violations } from './validate.ts'

/** A problem with a YAML document: the JSON pointer of the value, and where the YAML says it. */
export interface YamlViolation extends Violation {
  /** 1-based line and column in the YAML text, when the problem has a place in it. */
  readonly line?: number
  readonly column?: number
}

export type YamlResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly violations: readonly YamlViolation[] }

export interface YamlDocumentOptions<S extends TSchema> {
  /** The file, as people know it: `deploy.yaml`, `provider.yaml`. */
  readonly fileName: string
  readonly schema: S
  /** The largest text read. */
  readonly maxBytes: number
  /** The versions read, named in `apiVersion`; the first field checked. */
  readonly apiVersions: readonly string[]
  /** What the top-level mapping holds, for the message when it is not one. */
  readonly topLevel: string
  /** Rules across fields the schema cannot state, checked on a valid document. */
  readonly check?: (value: Static<S>) => Violation[]
}

/**
 * A reader of one kind of YAML file: one YAML 1.2 document (core schema: `yes` is a string), no
 * duplicate keys, no unknown tags, no `__proto__` keys, at most `maxBytes` and 10,000 values once
 * aliases are walked out; then the schema, with unknown fields as errors and
 * defaults applied. Every other key is an ordinary key whatever its name: `constructor`, `prototype`
 * or `toString` is kept where the schema allows any name (an env var named `constructor`) and is an
 * unknown field where it does not (`spec.constructor`). Every problem comes back at once, each with its
 * JSON pointer and its line and column. Never throws on any input.
 *
 * js-yaml reads the text (ten times faster than \`yaml\` here, and every push reads a deploy.yaml);
 * \`yaml\`, whose documents keep every node's place, is used only to place the problems of a document
 * that has some.
 */
export function createYamlLoader<S extends TSchema, T>(options: YamlDocumentOptions<S>) {
  const { fileName, schema, maxBytes, apiVersions } = options
  let validator: Validator | undefined
  const fail = (list: YamlViolation[]): YamlResult<T> => ({ ok: false, violations: list })
  return (text: string): YamlResult<T> => {
    const bytes = Buffer.byteLength(text)
    if (bytes > maxBytes) {
      return fail([{ path: '', message: `is ${bytes} bytes; a ${fileName} is at most ${maxBytes}` }])
    }
    let value: unknown
    try {
      value = load(text, { schema: CORE_SCHEMA, filename: fileName })
    } catch (error) {
      return fail([readProblem(error, fileName)])
    }
    if (value === undefined || value === null) {
      return fail([{ path: '', message: `is empty: a ${fileName} holds one document` }])
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      return fail([{ path: '', message: `must be a mapping (${options.topLevel})`, line: 1, column: 1 }])
    }
    // A key named __proto__ becomes the prototype of a mapping wherever it is assigned (`o[k] = v`,
    // Object.assign): what it holds would vanish, or be inherited. Refused, each where it is written.
    const protoKeys = protoKeyPaths(value)
    if (protoKeys.length > 0) {
      return fail(
        placed(
          text,
          protoKeys.map((path) => ({
            path,
            message: `is not allowed: no key in a ${fileName} may be named __proto__`,
          })),
        ),
      )
    }
    // Aliases share one value in memory; walked out (validation, the canonical form) they multiply.
    if (expandsBeyond(value, maxExpandedValues)) {
      return fail([
        {
          path: '',
          message: `expands to more than ${maxExpandedValues} values through its aliases; a ${fileName} needs far fewer`,
        },
      ])
    }
    const apiVersion = (value as { apiVersion?: unknown }).apiVersion
    if (!(apiVersions as readonly unknown[]).includes(apiVersion)) {
      return fail(
        placed(text, [
          {
            path: '/apiVersion',
            message: `${apiVersion === undefined ? 'is required' : `${JSON.stringify(apiVersion)} is not supported`}; supported: ${apiVersions.join(', ')}`,
          },
        ]),
      )
    }
    validator ??= Compile(schema) as unknown as Validator
    const withDefaults = Value.Default(schema, ownCopy(value))
    if (validator.Check(withDefaults)) {
      const problems = options.check?.(withDefaults as Static<S>) ?? []
      return problems.length === 0 ? { ok: true, value: withDefaults as T } : fail(placed(text, problems))
    }
    return fail(placed(text, violations(validator, withDefaults, '')))
  }
}

/** A configuration file far larger than any real one still has fewer values than this. */
const maxExpandedValues = 10_000

/** Whether walking `value` out, aliases and all, visits more than `limit` values. */
function expandsBeyond(value: unknown, limit: number): boolean {
  let visited = 0
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const next = stack.pop()
    if (++visited > limit) return true
    if (next !== null && typeof next === 'object') {
      for (const child of Array.isArray(next) ? next : Object.values(next)) stack.push(child)
    }
  }
  return false
}

/**
 * The JSON pointer of every own key `__proto__` (js-yaml defines it as an own property, so it is
 * found here before anything copies it), each distinct mapping walked once: bounded by the text.
 */
function protoKeyPaths(value: unknown): string[] {
  const found: string[] = []
  const seen = new Set<object>()
  const stack: { node: unknown; path: string }[] = [{ node: value, path: '' }]
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: string }
    if (node === null || typeof node !== 'object' || seen.has(node)) continue
    seen.add(node)
    if (!Array.isArray(node) && Object.hasOwn(node, '__proto__')) found.push(`${path}/__proto__`)
    for (const [key, child] of Object.entries(node)) {
      stack.push({ node: child, path: `${path}/${escapePointer(key)}` })
    }
  }
  return found.sort()
}

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1')

/**
 * A copy of a loaded value for the defaults to be written into: aliases walked out (a default written
 * at one place must not appear at another that shares the mapping) and every key kept as an own
 * property of a plain object, whatever its name. Not TypeBox's Value.Clone, which skips the keys it
 * calls unsafe (`constructor`, `prototype`, `__proto__`) and so dropped `env: {constructor: …}` and
 * `spec.constructor` unseen; not structuredClone, which keeps aliases shared. Object.fromEntries defines
 * each key (it never calls a setter). Bounded by expandsBeyond() above.
 */
function ownCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ownCopy)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, ownCopy(child)]))
}

/** A YAML error as one violation at its place (js-yaml counts from 0). */
function readProblem(error: unknown, fileName: string): YamlViolation {
  const e = error as { reason?: string; message?: string; mark?: { line: number; column: number } }
  const reason = e.reason ?? e.message ?? 'unreadable'
  const message =
    reason === 'expected a single document in the stream, but found more'
      ? `holds more than one document; a ${fileName} holds one`
      : reason.startsWith('duplicated mapping key')
        ? 'has a key twice in one mapping (map keys must be unique)'
        : `is not YAML that can be read: ${reason}`
  return {
    path: '',
    message,
    ...(e.mark === undefined ? {} : { line: e.mark.line + 1, column: e.mark.column + 1 }),
  }
}

/** The violations with their line and column, from a second reading that keeps every node's place. */
function placed(text: string, list: readonly Violation[]): YamlViolation[] {
  const lines = new LineCounter()
  let document: Document.Parsed | undefined
  try {
    document = parseDocument(text, { lineCounter: lines, uniqueKeys: false })
  } catch {
    document = undefined
  }
  return list.map((v) =>
    document === undefined ? v : { ...v, ...locate(document, lines, pointerSegments(v.path)) },
  )
}

const at = (lines: LineCounter, offset: number) => {
  const { line, col } = lines.linePos(offset)
  return { line, column: col }
}

const pointerSegments = (pointer: string): string[] =>
  pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))

/**
 * The place of a JSON pointer in the YAML: the key of the deepest pair found (the line a person looks
 * at), or the item of a sequence; a property that is missing points at the mapping that lacks it.
 */
function locate(document: Document.Parsed, lines: LineCounter, segments: readonly string[]) {
  let node: Node | null | undefined = document.contents
  let offset = node?.range?.[0] ?? 0
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value) === segment)
      if (pair === undefined) break
      offset = (pair.key as Node | null)?.range?.[0] ?? offset
      node = pair.value as Node | null
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)] as Node | undefined
      if (item === undefined) break
      offset = item.range?.[0] ?? offset
      node = item
    } else {
      break
    }
  }
  return at(lines, offset)
}
