// The HTTP client of `rxt`: JSON in and out, the credentials in the Authorization header, the
// organisation in X-RXT-Org, a sign-in's access token refreshed once on 401 (POST /v1/auth/refresh, the
// new tokens written back), and every failure turned into a CliError with its exit code.
import type { Credentials } from './config.ts'
import { CliError, ExitCode, exitCodeOfStatus } from './exit-codes.ts'
import { type Problem, problemDetails, problemMessage } from './problem.ts'

/** The server answered an error: its status and problem document. */
export class ApiError extends CliError {
  readonly status: number
  readonly problem: Problem
  constructor(status: number, problem: Problem, file?: string) {
    super(problemMessage(problem, status), exitCodeOfStatus(status), problemDetails(problem, file))
    this.name = 'ApiError'
    this.status = status
    this.problem = problem
  }
}

export interface RequestOptions {
  readonly body?: unknown
  readonly query?: Record<string, string | number | boolean | undefined>
  readonly headers?: Record<string, string>
  /** The document a problem's line and column refer to (a deploy.yaml). */
  readonly file?: string
}

export interface Client {
  readonly url: string
  request<T = Record<string, unknown>>(method: string, path: string, options?: RequestOptions): Promise<T>
  /** A raw request with the same headers and refresh (for a stream); the caller reads the body. */
  open(path: string, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>
}

export interface ClientDeps {
  readonly url: string
  readonly credentials: Credentials | undefined
  readonly org: string | undefined
  /** Called with new tokens after a refresh (to store them); absent: tokens are not refreshed. */
  readonly onRefresh?: (tokens: { accessToken: string; refreshToken: string }) => Promise<void>
  readonly fetch?: typeof fetch
}

const authorizationOf = (credentials: Credentials | undefined) =>
  credentials === undefined
    ? undefined
    : credentials.kind === 'api-key'
      ? `ApiKey ${credentials.apiKey}`
      : `Bearer ${credentials.accessToken}`

/** The path with its query string (undefined values left out). */
export function pathWithQuery(path: string, query: RequestOptions['query']): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query ?? {}))
    if (value !== undefined) params.set(key, String(value))
  const text = params.toString()
  return text === '' ? path : `${path}?${text}`
}

async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text()
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed === 'object' && parsed !== null) return parsed as Problem
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return { detail: `the server answered ${response.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}` }
}

export function createClient(deps: ClientDeps): Client {
  const doFetch = deps.fetch ?? fetch
  let credentials = deps.credentials

  const send = async (path: string, init: RequestInit, headers: Record<string, string>) => {
    const authorization = authorizationOf(credentials)
    try {
      return await doFetch(`${deps.url}${path}`, {
        ...init,
        headers: {
          accept: 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
          ...(deps.org === undefined ? {} : { 'x-rxt-org': deps.org }),
          ...headers,
        },
      })
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      throw new CliError(
        `cannot reach ${deps.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        ExitCode.unavailable,
        ['set RXT_URL (or sign in with rxt login --url) to the server'],
      )
    }
  }

  /** One refresh of a sign-in's access token; false when there is nothing to refresh with. */
  const refresh = async (): Promise<boolean> => {
    if (credentials?.kind !== 'token' || credentials.refreshToken === undefined || !deps.onRefresh)
      return false
    const response = await send(
      '/v1/auth/refresh',
      { method: 'POST', body: JSON.stringify({ refreshToken: credentials.refreshToken }) },
      { 'content-type': 'application/json' },
    )
    if (!response.ok) return false
    const tokens = (await response.json()) as { accessToken: string; refreshToken: string }
    credentials = { kind: 'token', accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }
    await deps.onRefresh(tokens)
    return true
  }

  const withRefresh = async (path: string, init: RequestInit, headers: Record<string, string>) => {
    const response = await send(path, init, headers)
    if (response.status !== 401) return response
    if (!(await refresh())) return response
    await response.body?.cancel()
    return send(path, init, headers)
  }

  const notSignedIn = () =>
    new CliError('not signed in', ExitCode.auth, ['sign in with rxt login, or set RXT_TOKEN or RXT_API_KEY'])

  return {
    url: deps.url,
    async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
      const response = await withRefresh(
        pathWithQuery(path, options.query),
        {
          method,
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        },
        {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      )
      if (!response.ok) {
        if (response.status === 401 && credentials === undefined) throw notSignedIn()
        throw new ApiError(response.status, await problemOf(response), options.file)
      }
      const text = await response.text()
      return (text === '' ? {} : JSON.parse(text)) as T
    },
    async open(path, headers = {}, signal) {
      const response = await withRefresh(path, signal === undefined ? {} : { signal }, headers)
      if (!response.ok) {
        if (response.status === 401 && credentials === undefined) throw notSignedIn()
        throw new ApiError(response.status, await problemOf(response))
      }
      return response
    },
  }
}
