import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { type Principal, permissions } from './auth/access.ts'
import type { Authenticator } from './auth/guard.ts'
import {
  AuthenticationError,
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
} from './errors.ts'

/**
 * Calling another context's HTTP API: in this process (the embedded mode, or a process that runs both)
 * the call goes through the server's own router, with no socket; otherwise to the context's address in
 * CONTEXT_URLS. Either way it presents a service credential: in this process, one the process made at
 * start and accepts only from itself; elsewhere, SERVICE_CREDENTIAL (issued by identity's operators).
 * A context's published client (`@rxt/<context>/client`) is written against {@link PeerCall}.
 */

export interface PeerRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** The path under the API root, with its query: `/v1/secrets/grants/…/values`. */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  /** JSON, sent with content-type application/json. */
  readonly body?: unknown
}

export interface PeerResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export type PeerCall = (request: PeerRequest) => Promise<PeerResponse>

/** What a context is given: the call to a named context (refused at call time when none is reachable). */
export type PeersOf = (context: string) => PeerCall

/** The prefix of the credentials a process makes for its own contexts (never issued by identity). */
const localPrefix = 'local.'

/**
 * The process's own service credentials: `local.<context>.<mac>`, the MAC keyed by 32 random bytes
 * made at start and kept in memory only, so the credential is worthless outside this process.
 */
export function createLocalCredentials() {
  const key = randomBytes(32)
  const macOf = (context: string) => createHmac('sha256', key).update(context).digest('base64url')
  return {
    of: (context: string) => `${localPrefix}${context}.${macOf(context)}`,
    /** The context a credential is this process's for, or undefined when it is not one of them. */
    verify(credential: string): string | undefined {
      if (!credential.startsWith(localPrefix)) return undefined
      const rest = credential.slice(localPrefix.length)
      const dot = rest.lastIndexOf('.')
      if (dot <= 0) return undefined
      const context = rest.slice(0, dot)
      const given = Buffer.from(rest.slice(dot + 1))
      const expected = Buffer.from(macOf(context))
      return given.length === expected.length && timingSafeEqual(given, expected) ? context : undefined
    },
  }
}
export type LocalCredentials = ReturnType<typeof createLocalCredentials>

/**
 * The principal of a context of this process calling another: a service acting in the organisation it
 * names, with every permission (it is the platform's own code, in the same process).
 */
export const localServicePrincipal = (context: string): Principal => ({
  kind: 'service',
  id: context,
  userId: undefined,
  operator: false,
  orgs: new Map(),
  everyOrg: { role: 'service', permissions },
})

/** The authenticator of this process: its own contexts' credentials first, then the one it wraps. */
export function withLocalCredentials(
  local: LocalCredentials,
  next: () => Authenticator | undefined,
): () => Authenticator | undefined {
  const own: Authenticator = {
    authenticate(authorization) {
      const [scheme, credential] = authorization.split(' ', 2)
      const context = scheme === 'Service' && credential !== undefined ? local.verify(credential) : undefined
      if (context !== undefined) return Promise.resolve(localServicePrincipal(context))
      const wrapped = next()
      if (wrapped === undefined)
        return Promise.reject(
          new UnavailableError('no identity context runs in this process to authenticate the request'),
        )
      return wrapped.authenticate(authorization)
    },
  }
  return () => own
}

/** CONTEXT_URLS: `secrets=http://secrets:8080,identity=http://identity:8080`. */
export function parseContextUrls(text: string): ReadonlyMap<string, string> {
  const urls = new Map<string, string>()
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = part.slice(0, eq).trim()
    const url = part.slice(eq + 1).trim()
    if (eq <= 0 || !/^[a-z][a-z0-9-]*$/.test(name) || !/^https?:\/\/[^\s]+$/.test(url))
      throw new InputError(
        `CONTEXT_URLS: "${part}" is not context=url (secrets=http://secrets:8080, comma-separated)`,
      )
    urls.set(name, url.replace(/\/+$/, ''))
  }
  return urls
}

export interface PeersOptions {
  /** The contexts this process runs, and how to reach its own router (the server's inject). */
  readonly local: ReadonlySet<string>
  readonly inject: (request: {
    method: PeerRequest['method']
    url: string
    headers: Record<string, string>
    payload?: string
  }) => Promise<PeerResponse>
  readonly urls: ReadonlyMap<string, string>
  readonly credentials: LocalCredentials
  /** SERVICE_CREDENTIAL: what this process presents to another. */
  readonly remoteCredential: string | undefined
  readonly fetch?: typeof fetch
  readonly timeoutMs?: number
}

/** The peers of one calling context. */
export function createPeers(options: PeersOptions, caller: string): PeersOf {
  const timeoutMs = options.timeoutMs ?? 10_000
  return (context) => async (request) => {
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      ...request.headers,
    }
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body)
    if (payload !== undefined) headers['content-type'] = 'application/json'
    if (options.local.has(context)) {
      headers.authorization = `Service ${options.credentials.of(caller)}`
      return options.inject({
        method: request.method,
        url: request.path,
        headers,
        ...(payload === undefined ? {} : { payload }),
      })
    }
    const base = options.urls.get(context)
    if (base === undefined)
      throw new UnavailableError(
        `the ${context} context does not run in this process and CONTEXT_URLS names no address for it (${context}=http://…)`,
      )
    if (options.remoteCredential === undefined)
      throw new UnavailableError(
        `SERVICE_CREDENTIAL is not set: ${caller} needs a service credential to call ${context} (an operator issues one: POST /v1/admin/service-credentials)`,
      )
    return remotePeer({
      baseUrl: base,
      credential: options.remoteCredential,
      context,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      timeoutMs,
    })({ ...request, headers })
  }
}

/** A context of another process, at its address, called with a service credential. */
export function remotePeer(options: {
  readonly baseUrl: string
  readonly credential: string
  /** The context's name, for messages. */
  readonly context?: string
  readonly fetch?: typeof fetch
  readonly timeoutMs?: number
}): PeerCall {
  const base = options.baseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const name = options.context === undefined ? 'the context' : `the ${options.context} context`
  return async (request) => {
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      ...request.headers,
      authorization: `Service ${options.credential}`,
    }
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body)
    if (payload !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await doFetch(`${base}${request.path}`, {
        method: request.method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      })
    } catch (error) {
      throw new UnavailableError(`${name} at ${base} did not answer: ${(error as Error).message}`)
    }
    return {
      status: response.status,
      headers: Object.fromEntries(response.headers.entries()),
      body: await response.text(),
    }
  }
}

/**
 * A peer's JSON answer, or its problem as the kit's error of the same meaning (the problem's detail,
 * which problems never fill with secrets, is the message): what a published client returns or throws.
 */
export function peerAnswer<T>(response: PeerResponse, context: string): T {
  if (response.status >= 200 && response.status < 300)
    return (response.body === '' ? undefined : JSON.parse(response.body)) as T
  let detail = `${context} answered ${response.status}`
  try {
    const problem = JSON.parse(response.body) as { detail?: unknown; title?: unknown }
    if (typeof problem.detail === 'string') detail = `${context}: ${problem.detail}`
    else if (typeof problem.title === 'string') detail = `${context}: ${problem.title}`
  } catch {
    // Not a problem document: the status says it.
  }
  switch (response.status) {
    case 400:
    case 422:
      throw new InputError(detail)
    case 401:
      throw new AuthenticationError(detail)
    case 403:
      throw new NotAllowedError(detail)
    case 404:
    case 410:
      throw new NotFoundError(detail)
    case 409:
      throw new ConflictError(detail)
    default:
      throw new UnavailableError(detail)
  }
}
