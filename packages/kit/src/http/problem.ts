import type { FastifyError } from 'fastify'
import Type, { type Static } from 'typebox'
import { assertNever, isKitError, type KitError, type Violation } from '../errors.ts'

/** RFC 9457 problem details, with the extensions every RXT Deploy error carries. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    code: Type.String({ description: 'Stable error code' }),
    retryable: Type.Boolean({ description: 'Whether the same request may succeed later' }),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String(),
          message: Type.String(),
          line: Type.Optional(Type.Integer()),
          column: Type.Optional(Type.Integer()),
        }),
      ),
    ),
  },
  { $id: 'Problem', description: 'An RFC 9457 problem details document' },
)
export type Problem = Static<typeof Problem>

export const problemContentType = 'application/problem+json'

const typeUri = (code: string) => `urn:rxt:problem:${code}`

export function statusOf(error: KitError): number {
  const code = error.code
  switch (code) {
    case 'input':
      return error.unprocessable ? 422 : 400
    case 'authentication':
      return 401
    case 'not-allowed':
      return 403
    case 'not-found':
      return 404
    case 'conflict':
      return 409
    case 'unavailable':
      return 503
    default:
      return assertNever(code, 'unknown error code')
  }
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** A field name as a JSON pointer segment, printable and bounded (it may be the caller's key). */
const pointerSegment = (key: string): string => {
  const segment = key.replaceAll('~', '~0').replaceAll('/', '~1').replaceAll('\u0000', '\\u0000')
  return segment.length > 256 ? `${segment.slice(0, 256)}…` : segment
}
/** A request with thousands of violations (unknown keys, say) gets the first ones, and their count. */
const reportedViolations = 50

/**
 * One violation of a request's schema, at the path of the field it is about: a missing or an unknown
 * field is named by its own path (`/body/name is required`), not its parent's.
 */
function violationOf(where: string, v: NonNullable<FastifyError['validation']>[number]): Violation {
  const at = `/${where}${v.instancePath}`
  const params = v.params as Record<string, unknown>
  if (v.keyword === 'required' && typeof params.missingProperty === 'string')
    return { path: `${at}/${pointerSegment(params.missingProperty)}`, message: 'is required' }
  if (v.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string')
    return {
      path: `${at}/${pointerSegment(params.additionalProperty)}`,
      message: 'is not a field of this request',
    }
  return { path: at, message: v.message ?? 'is invalid' }
}

/** Fastify's own client errors (bad JSON, wrong media type, schema validation) map to `input`-like problems. */
function fromFastify(error: FastifyError): Omit<Problem, 'instance' | 'requestId'> | undefined {
  if (error.validation !== undefined) {
    const where = error.validationContext ?? 'request'
    const all = error.validation
    const errors: Violation[] = all.slice(0, reportedViolations).map((v) => violationOf(where, v))
    const more = all.length > errors.length ? ` (and ${all.length - errors.length} more)` : ''
    return {
      type: typeUri('input'),
      title: titles[400] ?? 'Bad Request',
      status: 400,
      detail: `the ${where} is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}${more}`,
      code: 'input',
      retryable: false,
      errors,
    }
  }
  const status = error.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    return {
      type: typeUri(status === 413 ? 'too-large' : status === 415 ? 'unsupported-media-type' : 'input'),
      title: titles[status] ?? 'Bad Request',
      status,
      detail: error.message,
      code: error.code ?? 'input',
      retryable: status === 429,
    }
  }
  return undefined
}

/**
 * The one mapping from anything thrown to a problem document. Errors outside the closed set become
 * a 500 whose detail says nothing about the cause (it is logged instead).
 */
export function toProblem(error: unknown, instance: string, requestId: string): Problem {
  if (isKitError(error)) {
    const status = statusOf(error)
    return {
      type: typeUri(error.code),
      title: titles[status] ?? 'Error',
      status,
      detail: error.message,
      instance,
      code: error.code,
      retryable: error.retryable,
      requestId,
      ...(error.code === 'input' && error.violations.length > 0 ? { errors: [...error.violations] } : {}),
    }
  }
  const fastify = fromFastify(error as FastifyError)
  if (fastify !== undefined) return { ...fastify, instance, requestId }
  return {
    type: typeUri('internal'),
    title: titles[500] ?? 'Internal Server Error',
    status: 500,
    detail: `an unexpected error occurred; quote request id ${requestId} when reporting it`,
    instance,
    code: 'internal',
    retryable: false,
    requestId,
  }
}

/** An OpenAPI response entry for a problem document (use in a route's `response` map). */
export const problemResponse = (description: string) => ({
  description,
  content: { [problemContentType]: { schema: Type.Ref('Problem') } },
})

/** The problems any guarded route may answer: spread into a route's `response` beside its own. */
export const problemResponses = {
  400: problemResponse('The request is invalid'),
  401: problemResponse('Not authenticated'),
  403: problemResponse('Not allowed'),
  404: problemResponse('No such resource (or not yours)'),
  409: problemResponse('Conflicts with the current state'),
}
