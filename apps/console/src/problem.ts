/** A field-level violation of a request, as the API reports it in a problem's `errors[]`. */
export interface FieldError {
  readonly path: string
  readonly message: string
  readonly line?: number
  readonly column?: number
}

/** An RFC 9457 problem+json answer of the API, or a failure to reach it, as one error. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly detail: string
  readonly errors: readonly FieldError[]
  constructor(status: number, code: string, detail: string, errors: readonly FieldError[] = []) {
    super(detail)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.detail = detail
    this.errors = errors
  }

  /** The messages of the violations about `field` (a body property, or a deeper pointer), if any. */
  fieldMessage(field: string): string | undefined {
    const messages = this.errors.filter((e) => fieldOf(e.path) === field).map((e) => e.message)
    return messages.length === 0 ? undefined : messages.join('; ')
  }
}

/**
 * The form field a violation names: `/body/name` is `name`, `/body/ci/image` is `ci.image`, `/yaml` is
 * `yaml` (a deploy.yaml violation names the manifest's own path and its line).
 */
export function fieldOf(path: string): string {
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  const [first, ...rest] = segments
  if (first === 'body' || first === 'querystring' || first === 'params' || first === 'headers')
    return rest.join('.')
  return segments.join('.')
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** Turns an answer's status and parsed body into an ApiError: problem+json when it is one, else generic. */
export function toApiError(status: number, body: unknown, statusText = ''): ApiError {
  if (isRecord(body) && typeof body.code === 'string') {
    const detail =
      typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : ''
    const errors = Array.isArray(body.errors)
      ? body.errors.filter(isRecord).flatMap((e): FieldError[] =>
          typeof e.path === 'string' && typeof e.message === 'string'
            ? [
                {
                  path: e.path,
                  message: e.message,
                  ...(typeof e.line === 'number' ? { line: e.line } : {}),
                  ...(typeof e.column === 'number' ? { column: e.column } : {}),
                },
              ]
            : [],
        )
      : []
    return new ApiError(status, body.code, detail || `request failed (${status})`, errors)
  }
  return new ApiError(status, 'http', `request failed: ${status}${statusText === '' ? '' : ` ${statusText}`}`)
}

/** A violation as one line for people: the field, the message, and where in a manifest. */
export function describeFieldError(e: FieldError): string {
  const where =
    e.line === undefined ? '' : ` (line ${e.line}${e.column === undefined ? '' : `, column ${e.column}`})`
  return `${fieldOf(e.path) || e.path}: ${e.message}${where}`
}
