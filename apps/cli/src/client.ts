// The HTTP client of `rxt`: JSON in and out, the credentials in the Authorization header, the
// organisation in X-RXT-Org, a sign-in's access token refreshed once on 401 (POST /v1/auth/refresh,
// through the token store: one refresh at a time across processes, the new tokens written back), and
// every failure turned into a CliError with its exit code.
import type { Credentials } from './config.ts'
import { CliError, ExitCode, exitCodeOfStatus } from './exit-codes.ts'
import { type Problem, problemDetails, problemMessage } from './problem.ts'

/** The server answered an error: its status and problem document. */
export class ApiError extends CliError {
  readonly status: number
  declare readonly problem: Problem
  constructor(status: number, problem: Problem, file?: string, hints: readonly string[] = []) {
    super(
      problemMessage(problem, status),
      exitCodeOfStatus(status),
      [...problemDetails(problem, file), ...hints],
      false,
      problem,
    )
    this.name = 'ApiError'
    this.status = status
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

export interface Tokens {
  readonly accessToken: string
  readonly refreshToken: string
}

/** Where a sign-in's tokens are kept (the config file), shared by every rxt process. */
export interface TokenStore {
  /**
   * Refreshes the sign-in whose refresh token `used` was refused, holding the store's lock: the tokens
   * another process stored meanwhile if the store's refresh token is no longer `used`, else what
   * `exchange` answers (stored); 'ended' when the sign-in is over (its tokens are cleared).
   */
  refresh(
    used: string,
    exchange: (refreshToken: string) => Promise<Tokens | 'refused'>,
  ): Promise<Tokens | 'ended'>
}

export interface ClientDeps {
  readonly url: string
  readonly credentials: Credentials | undefined
  readonly org: string | undefined
  /** Where refreshed tokens go; absent: tokens are not refreshed. */
  readonly tokens?: TokenStore
  /** The server the stored sign-in belongs to when it is not `url`: what a 401 without credentials says. */
  readonly signedInElsewhere?: string
  readonly fetch?: typeof fetch
}

/** A sign-in that ended (its refresh token refused): the stored tokens are gone. */
export const signInEnded = () => new CliError('the sign-in ended: rxt login', ExitCode.auth)

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

  /** POST /v1/auth/refresh: the new tokens, 'refused' (the sign-in is over), or a CliError (unreachable, 5xx). */
  const exchange = async (refreshToken: string): Promise<Tokens | 'refused'> => {
    const response = await doFetch(`${deps.url}/v1/auth/refresh`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken }),
    }).catch((error: unknown) => {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      throw new CliError(
        `cannot reach ${deps.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        ExitCode.unavailable,
      )
    })
    if (response.ok) return (await response.json()) as Tokens
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      await response.body?.cancel()
      return 'refused'
    }
    throw new ApiError(response.status, await problemOf(response))
  }

  // One refresh at a time in this process: the requests refused together wait for the same one.
  let refreshing: Promise<void> | undefined
  const refreshable = (
    used: Credentials | undefined,
  ): used is Credentials & { kind: 'token'; refreshToken: string } =>
    used?.kind === 'token' && used.refreshToken !== undefined && deps.tokens !== undefined
  const refresh = async (used: Credentials & { kind: 'token'; refreshToken: string }): Promise<void> => {
    // Another request of this process refreshed since this one was sent: its tokens are the ones.
    if (credentials === undefined) throw signInEnded()
    if (credentials !== used) return
    const store = deps.tokens as TokenStore
    const usedToken = used.refreshToken
    refreshing ??= (async () => {
      try {
        const tokens = await store.refresh(usedToken, exchange)
        if (tokens === 'ended') {
          credentials = undefined
          throw signInEnded()
        }
        credentials = { kind: 'token', accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }
      } finally {
        refreshing = undefined
      }
    })()
    await refreshing
  }

  const withRefresh = async (path: string, init: RequestInit, headers: Record<string, string>) => {
    const used = credentials
    const response = await send(path, init, headers)
    if (response.status !== 401 || !refreshable(used)) return response
    await response.body?.cancel()
    await refresh(used)
    return send(path, init, headers)
  }

  /** A refused request: the server's problem, with how to sign in when nothing was sent. */
  const failure = async (response: Response, file?: string) => {
    const problem = await problemOf(response)
    const error = new ApiError(response.status, problem, file)
    if (response.status !== 401 || credentials !== undefined) return error
    const hint =
      deps.signedInElsewhere === undefined
        ? 'not signed in: rxt login, or set RXT_TOKEN or RXT_API_KEY'
        : `not signed in to ${deps.url}: rxt login (the stored sign-in is for ${deps.signedInElsewhere})`
    return new ApiError(response.status, problem, file, [hint])
  }

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
      if (!response.ok) throw await failure(response, options.file)
      const text = await response.text()
      return (text === '' ? {} : JSON.parse(text)) as T
    },
    async open(path, headers = {}, signal) {
      const response = await withRefresh(path, signal === undefined ? {} : { signal }, headers)
      if (!response.ok) throw await failure(response)
      return response
    },
  }
}
