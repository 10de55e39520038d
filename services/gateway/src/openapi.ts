/** The parts of an OpenAPI 3.1 document the gateway reads and writes. */
export interface OpenApiDocument {
  paths?: Record<string, Record<string, unknown>>
  components?: { schemas?: Record<string, unknown>; [key: string]: unknown }
  [key: string]: unknown
}

interface OpenApiOperation {
  readonly tags?: readonly string[]
  readonly security?: readonly unknown[]
  readonly parameters?: readonly { readonly in?: string; readonly name?: string }[]
}

/** One operation an upstream serves, as the gateway routes it. */
export interface Operation {
  /** Upper case: GET, POST, … */
  readonly method: string
  /** As the document names it: /v1/projects/{projectId} */
  readonly path: string
  /** The context answers it without credentials (`security: []`). */
  readonly public: boolean
  /**
   * Every process serves its own (the kit's bus admin: dead letters and consumers of the contexts it
   * runs): routed to an upstream only when the request names its context in X-RXT-Context.
   */
  readonly perProcess: boolean
}

export const httpMethods = ['get', 'post', 'put', 'patch', 'delete'] as const

/** The header that sends a per-process operation to the process of one context. */
export const contextHeader = 'x-rxt-context'

/** The tag the kit gives its own operator routes, which every process serves for itself. */
const processTag = 'admin'

const isMethod = (name: string): name is (typeof httpMethods)[number] =>
  (httpMethods as readonly string[]).includes(name)

/**
 * The operations the gateway routes to an upstream for `context`: every /v1 operation its document
 * tags with the context (its /v1/admin operator routes included), and the per-process ones.
 */
export function operationsOf(document: OpenApiDocument, context: string): Operation[] {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item).flatMap(([method, value]) => {
      if (!isMethod(method) || !path.startsWith('/v1/')) return []
      const op = value as OpenApiOperation
      const tags = op.tags ?? []
      const perProcess = path.startsWith('/v1/admin/') && tags.includes(processTag)
      if (!perProcess && !tags.includes(context)) return []
      return [
        {
          method: method.toUpperCase(),
          path,
          public: Array.isArray(op.security) && op.security.length === 0,
          perProcess,
        },
      ]
    }),
  )
}

export interface UpstreamDocument {
  readonly context: string
  readonly document: OpenApiDocument
  readonly operations: readonly Operation[]
}

const schemaRef = '#/components/schemas/'

/** A JSON value with every `$ref` to a renamed schema pointed at its new name. */
function renamed(value: unknown, names: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => renamed(v, names))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    if (key === '$ref' && typeof v === 'string' && v.startsWith(schemaRef)) {
      const name = v.slice(schemaRef.length)
      out[key] = `${schemaRef}${names.get(name) ?? name}`
    } else {
      out[key] = renamed(v, names)
    }
  }
  return out
}

/** JSON with its keys sorted: two schemas are the same when these are. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  return `{${Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
    .join(',')}}`
}

const contextParameter = {
  in: 'header',
  name: contextHeader,
  required: false,
  description:
    'The context whose process answers (each process keeps the bus of the contexts it runs); absent: the gateway process itself',
  schema: { type: 'string', pattern: '^[a-z][a-z0-9_]*$' },
}

/**
 * The gateway's document: its own operations, and every operation the gateway routes to each upstream
 * as that upstream describes it. A schema one upstream names like another but defines differently is
 * kept under `<name>_<context>`, with that upstream's references to it renamed. An operation two
 * upstreams describe is the first's (the one the gateway routes to). Per-process operations are the
 * gateway's own, with the X-RXT-Context header that sends them to another process.
 */
export function mergeDocuments(
  local: OpenApiDocument,
  upstreams: readonly UpstreamDocument[],
): { paths: Record<string, Record<string, unknown>>; schemas: Record<string, unknown> } {
  const paths: Record<string, Record<string, unknown>> = structuredClone(local.paths ?? {})
  const schemas: Record<string, unknown> = structuredClone(local.components?.schemas ?? {})
  for (const { context, document, operations } of upstreams) {
    const names = new Map<string, string>()
    const theirs = document.components?.schemas ?? {}
    for (const [name, schema] of Object.entries(theirs)) {
      const ours = schemas[name]
      if (ours !== undefined && canonical(ours) !== canonical(schema)) names.set(name, `${name}_${context}`)
    }
    for (const [name, schema] of Object.entries(theirs)) {
      const target = names.get(name) ?? name
      if (schemas[target] === undefined) schemas[target] = renamed(schema, names)
    }
    for (const op of operations) {
      const method = op.method.toLowerCase()
      const described = document.paths?.[op.path]?.[method]
      if (described === undefined) continue
      const item = paths[op.path] ?? {}
      paths[op.path] = item
      if (item[method] === undefined) item[method] = renamed(described, names)
      if (op.perProcess) {
        const own = item[method] as { parameters?: { in?: string; name?: string }[] }
        const parameters = own.parameters ?? []
        if (!parameters.some((p) => p.in === 'header' && p.name === contextHeader)) {
          own.parameters = [...parameters, contextParameter]
        }
      }
    }
  }
  return { paths, schemas }
}
