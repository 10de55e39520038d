import { AjvCompiler } from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { FastifyServerOptions } from 'fastify'

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
type ValidatorFactory = CompilersFactory['buildValidator']
type SerializerFactory = CompilersFactory['buildSerializer']

/**
 * The compilations a start has put off (one per route part and response): each runs on its route's
 * first request, or when `compileAll` gets to it — the app compiles the rest once it listens, so that a
 * schema that cannot compile is reported within moments of a start, not on the first request to it.
 */
export interface DeferredCompilations {
  readonly size: number
  /** Compiles what is still pending, a few at a time between other work; the errors, with their routes. */
  compileAll(): Promise<{ readonly route: string; readonly error: unknown }[]>
}

export function createDeferredCompilations(): DeferredCompilations & {
  defer<F>(route: string, compile: () => F): () => F
} {
  const pending = new Map<() => unknown, string>()
  return {
    get size() {
      return pending.size
    },
    defer<F>(route: string, compile: () => F): () => F {
      let compiled: F | undefined
      const get = (): F => {
        if (compiled === undefined) {
          compiled = compile()
          // Only once compiled: one that fails on a request is still reported by compileAll.
          pending.delete(get)
        }
        return compiled
      }
      pending.set(get, route)
      return get
    },
    async compileAll() {
      const errors: { route: string; error: unknown }[] = []
      while (pending.size > 0) {
        // Between batches the event loop serves what arrived meanwhile.
        await new Promise((resolve) => setImmediate(resolve))
        for (const [get, route] of [...pending].slice(0, 8)) {
          try {
            get()
          } catch (error) {
            pending.delete(get)
            errors.push({ route, error })
          }
        }
      }
      return errors
    },
  }
}
type Deferring = ReturnType<typeof createDeferredCompilations>

/** The part of AJV's error shape Fastify reads (see problem.ts, fromFastify). */
interface ValidationError {
  readonly instancePath: string
  readonly schemaPath: string
  readonly keyword: string
  readonly params: Record<string, unknown>
  readonly message: string
}
interface Validate {
  (data: unknown, context?: unknown): unknown
  errors?: readonly ValidationError[] | null
  schemaEnv?: unknown
}

const nul = '\u0000'
const nulMessage = 'must not contain a NUL character (\\u0000)'
/** Enough to find them all in a request a person wrote; a generated one gets the first few. */
const reportedNuls = 10
const pathChars = 256

const pointerSegment = (key: string): string =>
  key.replaceAll('~', '~0').replaceAll('/', '~1').replaceAll(nul, '\\u0000')

const walked = (value: unknown): value is Record<string, unknown> | unknown[] => {
  if (typeof value !== 'object' || value === null) return false
  if (Array.isArray(value)) return true
  const prototype = Object.getPrototypeOf(value)
  // plain objects only (JSON bodies; params and query strings, which are null-prototype objects of
  // their own kind): a Buffer or a stream is not text
  return prototype === Object.prototype || prototype === null || Object.getPrototypeOf(prototype) === null
}

interface Step {
  readonly value: unknown
  readonly parent: Step | undefined
  readonly key: string
}
const pathOf = (step: Step): string => {
  const segments: string[] = []
  for (let at: Step | undefined = step; at?.parent !== undefined; at = at.parent)
    segments.push(pointerSegment(at.key))
  const path = segments.length === 0 ? '' : `/${segments.reverse().join('/')}`
  return path.length > pathChars ? `${path.slice(0, pathChars)}…` : path
}

/**
 * Where the strings of a request part (its values and its keys, at any depth) hold a NUL character,
 * as JSON pointers relative to the part. PostgreSQL stores NUL in neither text nor jsonb, and no field
 * of this API means one. The walk keeps its own stack, so a deeply nested body costs no call stack,
 * and builds a path only for what it reports.
 */
export function nulPaths(value: unknown, limit = reportedNuls): string[] {
  const found: string[] = []
  const stack: Step[] = [{ value, parent: undefined, key: '' }]
  while (stack.length > 0 && found.length < limit) {
    const step = stack.pop() as Step
    if (typeof step.value === 'string') {
      if (step.value.includes(nul)) found.push(pathOf(step))
      continue
    }
    if (!walked(step.value)) continue
    const entries = Array.isArray(step.value)
      ? step.value.map((item, i) => [String(i), item] as const)
      : Object.entries(step.value)
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i] as readonly [string, unknown]
      const child: Step = { value: item, parent: step, key }
      if (key.includes(nul)) found.push(pathOf(child))
      stack.push(child)
    }
  }
  return found.slice(0, limit)
}

/** A compiled validator that also refuses NUL characters, reported beside the schema's own violations. */
function refusingNul(validate: Validate): Validate {
  const wrapped: Validate = (data, context) => {
    const found = nulPaths(data)
    const valid = context === undefined ? validate(data) : validate(data, context)
    if (found.length === 0) {
      wrapped.errors = validate.errors ?? null
      return valid
    }
    wrapped.errors = [
      ...found.map((instancePath) => ({
        instancePath,
        schemaPath: '#',
        keyword: 'nul',
        params: {},
        message: nulMessage,
      })),
      ...(valid === false ? (validate.errors ?? []) : []),
    ]
    return false
  }
  // Fastify passes the parent object (so that AJV can coerce a root value) when this is set.
  if (validate.schemaEnv !== undefined) wrapped.schemaEnv = validate.schemaEnv
  return wrapped
}

interface Route {
  readonly method: string
  readonly url: string
  readonly httpPart?: string
  readonly schema?: unknown
}

/**
 * Fastify lowercases the names of a headers schema only for its own compiler; under this one a name
 * in capitals would never match (Node gives header names in lower case), so it is refused at start.
 */
function checkHeaderNames(route: Route): void {
  if (route.httpPart !== 'headers') return
  const properties = (route.schema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {}
  const named = Object.keys(properties).filter((name) => name !== name.toLowerCase())
  if (named.length > 0)
    throw new Error(
      `${route.method} ${route.url}: name headers in lower case in its headers schema (${named.join(', ')})`,
    )
}

/** A validator compiled on its first call (or when Fastify first asks for its `schemaEnv`). */
function deferredValidator(get: () => Validate): Validate {
  const validate: Validate = (data, context) => {
    const compiled = get()
    const valid = context === undefined ? compiled(data) : compiled(data, context)
    validate.errors = compiled.errors ?? null
    return valid
  }
  Object.defineProperty(validate, 'schemaEnv', { get: () => get().schemaEnv })
  return validate
}

const routeName = (route: unknown) => {
  const r = route as Route & { httpStatus?: string }
  return `${r.method} ${r.url} (${r.httpPart ?? `response ${r.httpStatus ?? ''}`})`
}

/**
 * The validators of every route's params, querystring, headers and body: Fastify's own (AJV, through
 * @fastify/ajv-compiler, with the app's options), each of which also refuses a string holding a NUL
 * character wherever it is in the part, so that no schema has to say so. Bodies are validated without
 * type coercion and with unknown fields refused (see above). With `deferring`, each is compiled on first
 * use rather than at start (header names are still checked at start).
 */
export function createValidatorFactory(deferring?: Deferring): NonNullable<ValidatorFactory> {
  const pool = AjvCompiler()
  type Options = { readonly customOptions?: Record<string, unknown> } & Record<string, unknown>
  const factory = (externalSchemas: Parameters<typeof pool>[0], options: Options | undefined) => {
    const given: Options = options ?? {}
    type Compile = (route: unknown) => Validate
    // The AJV instances too are made on first use (each adds every shared schema).
    let text: Compile | undefined
    let json: Compile | undefined
    const compile = (route: unknown) => {
      text ??= pool(externalSchemas, given as Parameters<typeof pool>[1]) as unknown as Compile
      return text(route)
    }
    // A body is JSON, typed by its sender: taken as it is (no "5" for 5), and a field its schema does
    // not know (additionalProperties: false, as the OpenAPI document says) is refused rather than
    // silently dropped. Params, query strings and headers are text, read into their types as before.
    const compileBody = (route: unknown) => {
      json ??= pool(externalSchemas, {
        ...given,
        customOptions: { ...given.customOptions, coerceTypes: false, removeAdditional: false },
      } as Parameters<typeof pool>[1]) as unknown as Compile
      return json(route)
    }
    return (route: unknown) => {
      checkHeaderNames(route as Route)
      const build = () =>
        refusingNul((route as Route).httpPart === 'body' ? compileBody(route) : compile(route))
      return deferring === undefined ? build() : deferredValidator(deferring.defer(routeName(route), build))
    }
  }
  return factory as unknown as NonNullable<ValidatorFactory>
}

/**
 * Fastify's own serializers of route responses (fast-json-stringify), each compiled on its first
 * response rather than at start when `deferring` is given.
 */
export function createSerializerFactory(deferring?: Deferring): NonNullable<SerializerFactory> {
  const selector = SerializerSelector()
  const factory = (...args: Parameters<typeof selector>) => {
    const compile = selector(...args) as unknown as (route: unknown) => (data: unknown) => string
    if (deferring === undefined) return compile
    return (route: unknown) => {
      const get = deferring.defer(routeName(route), () => compile(route))
      return (data: unknown) => get()(data)
    }
  }
  return factory as unknown as NonNullable<SerializerFactory>
}
