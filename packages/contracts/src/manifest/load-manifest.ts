import { Compile, type Validator } from 'typebox/compile'
import { Value } from 'typebox/value'
import { type Document, isMap, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml'
import { type Violation, violations } from '../validate.ts'
import { DeployManifest, manifestApiVersions } from './deploy-manifest.ts'

/** The largest deploy.yaml read: far above any real one, small enough to refuse at once. */
export const maxManifestBytes = 256 * 1024
/** Alias expansions allowed in one document: anchors for reuse, not a billion laughs. */
const maxAliasCount = 100

/** A problem with a manifest: the JSON pointer of the value, and where the YAML says it. */
export interface ManifestViolation extends Violation {
  /** 1-based line and column in the YAML text, when the problem has a place in it. */
  readonly line?: number
  readonly column?: number
}

export type ManifestResult =
  | { readonly ok: true; readonly manifest: DeployManifest }
  | { readonly ok: false; readonly violations: readonly ManifestViolation[] }

let validator: Validator | undefined

/**
 * Reads a deploy.yaml: one YAML 1.2 document (core schema: `yes` is a string), no duplicate keys, no
 * unknown tags, at most 256 KiB and 100 alias expansions; then the schema, with unknown fields as
 * errors and defaults applied. Every problem comes back at once, each with its JSON pointer and its
 * line and column. Never throws on any input.
 */
export function loadManifest(text: string): ManifestResult {
  const bytes = Buffer.byteLength(text)
  if (bytes > maxManifestBytes) {
    return fail([{ path: '', message: `is ${bytes} bytes; a deploy.yaml is at most ${maxManifestBytes}` }])
  }
  const lines = new LineCounter()
  let documents: Document.Parsed[]
  try {
    documents = parseAllDocuments(text, {
      lineCounter: lines,
      uniqueKeys: true,
      strict: true,
    }) as Document.Parsed[]
  } catch (error) {
    return fail([{ path: '', message: `is not YAML that can be read: ${(error as Error).message}` }])
  }
  if (!Array.isArray(documents) || documents.length === 0) {
    return fail([{ path: '', message: 'is empty: a deploy.yaml holds one document' }])
  }
  if (documents.length > 1) {
    const second = documents[1]?.range?.[0] ?? 0
    return fail([
      {
        path: '',
        message: `holds ${documents.length} documents; a deploy.yaml holds one`,
        ...at(lines, second),
      },
    ])
  }
  const document = documents[0] as Document.Parsed
  const problems = [...document.errors, ...document.warnings]
  if (problems.length > 0) {
    return fail(
      problems.map((p) => ({
        path: '',
        message: p.message.split('\n')[0] as string,
        ...at(lines, p.pos[0]),
      })),
    )
  }
  let value: unknown
  try {
    value = document.toJS({ maxAliasCount })
  } catch (error) {
    return fail([{ path: '', message: `cannot be read: ${(error as Error).message}` }])
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail([
      { path: '', message: 'must be a mapping (apiVersion, kind, metadata, spec)', ...at(lines, 0) },
    ])
  }
  const apiVersion = (value as { apiVersion?: unknown }).apiVersion
  if (!(manifestApiVersions as readonly unknown[]).includes(apiVersion)) {
    return fail([
      {
        path: '/apiVersion',
        message: `${apiVersion === undefined ? 'is required' : `${JSON.stringify(apiVersion)} is not supported`}; supported: ${manifestApiVersions.join(', ')}`,
        ...locate(document, lines, ['apiVersion']),
      },
    ])
  }
  validator ??= Compile(DeployManifest) as unknown as Validator
  const withDefaults = Value.Default(DeployManifest, Value.Clone(value))
  if (validator.Check(withDefaults)) return { ok: true, manifest: withDefaults as DeployManifest }
  return fail(
    violations(validator, withDefaults, '').map((v) => ({
      ...v,
      ...locate(document, lines, pointerSegments(v.path)),
    })),
  )
}

const fail = (list: ManifestViolation[]): ManifestResult => ({ ok: false, violations: list })

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
