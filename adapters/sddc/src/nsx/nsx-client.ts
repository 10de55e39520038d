import { createRequire } from 'node:module'
import type { Logger } from '@rxt/kit'
import type * as Undici from 'undici'
import { adviceOf, codeOfStatus, NsxError, scrub } from './nsx-error.ts'
import { type ApiError, type ConsolidatedRealizedStatus, kinds, type NsxKind } from './wire.ts'

/** The account the client signs in with. */
export interface NsxCredentials {
  readonly username: string
  readonly password: string
}

export interface NsxClientOptions {
  /** NSX Manager's address, as "https://nsx.example.com" (no path). */
  readonly url: string
  readonly credentials: NsxCredentials
  /**
   * `basic`: HTTP basic authentication on every call. `session`: one session
   * (POST /api/session/create, then its cookie and X-XSRF-TOKEN), opened again when it expires.
   */
  readonly auth?: 'basic' | 'session'
  /** The CA certificates (PEM) NSX Manager's certificate is checked against; the system's when absent. */
  readonly ca?: string
  /** How long one call may take; 30 s when not given. */
  readonly timeoutMs?: number
  /** Where one line per call goes (method, path, status, time; never a body). */
  readonly log?: Logger
}

/** A Policy object as NSX answers it: its wire fields, `_revision` among them. */
export type NsxObject = Record<string, unknown> & {
  readonly id?: string
  readonly path?: string
  readonly resource_type?: string
  readonly _revision?: number
}

export interface NsxClient {
  /** The object, or undefined when NSX has none with that id. */
  get(kind: NsxKind, id: string): Promise<NsxObject | undefined>
  /** Creates or updates (NSX's PATCH merges the fields given into the object). */
  patch(kind: NsxKind, id: string, body: Record<string, unknown>): Promise<void>
  /**
   * Replaces the object (PUT). For an existing object `body._revision` must be the revision read: NSX
   * refuses a stale one, and the client reports that as `conflict`.
   */
  put(kind: NsxKind, id: string, body: Record<string, unknown>): Promise<NsxObject>
  /** Deletes the object; one that is already gone is not an error. */
  delete(kind: NsxKind, id: string): Promise<void>
  /** How far NSX has realized the object of a Policy path (GET /infra/realized-state/status). */
  realization(intentPath: string): Promise<ConsolidatedRealizedStatus>
  /** Every object the search API finds for the query (all pages). */
  search(query: string): Promise<NsxObject[]>
  /** Ends the session (when one is open) and closes the connections. */
  close(): Promise<void>
}

const policyRoot = '/policy/api/v1'
const idPattern = /^[A-Za-z0-9_.-]{1,255}$/

/** Fields of a request body that hold secrets: never logged, scrubbed from every error. */
const secretFields = ['private_key', 'passphrase', 'password'] as const

interface Session {
  readonly cookie: string
  readonly xsrf: string | undefined
}

/**
 * A client of the NSX Policy API over Node's fetch: basic or session authentication, HTTPS checked
 * against a CA of the caller's, each call bounded in time, every failure an NsxError of the closed set.
 */
export function createNsxClient(options: NsxClientOptions): NsxClient {
  const base = new URL(options.url)
  if (base.protocol !== 'https:' && base.protocol !== 'http:')
    throw new NsxError('invalid', `the NSX Manager address ${base.origin} is not an http(s) URL`)
  const origin = base.origin
  const timeoutMs = options.timeoutMs ?? 30_000
  // undici, loaded with the first client: a process whose SDDC context is off never needs it.
  const { Agent } = createRequire(import.meta.url)('undici') as typeof Undici
  const dispatcher = new Agent({
    connect: options.ca === undefined ? {} : { ca: options.ca },
    keepAliveTimeout: 10_000,
  })
  const { username, password } = options.credentials
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  const log = options.log
  let session: Session | undefined
  let signingIn: Promise<Session> | undefined
  let closed = false

  const fail = (
    error: NsxError,
    method: string,
    path: string,
    secrets: readonly string[],
    started: number,
  ): NsxError => {
    const safe = new NsxError(error.code, scrub(error.message, secrets), {
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.nsxErrorCode === undefined ? {} : { nsxErrorCode: error.nsxErrorCode }),
    })
    // A GET or DELETE of an object that is not there is an answer, not a failure, for the caller.
    const expected = error.code === 'not-found' && (method === 'GET' || method === 'DELETE')
    log?.[expected ? 'debug' : 'warn'](
      {
        method,
        path,
        status: error.status,
        code: safe.code,
        ms: Date.now() - started,
        message: safe.message,
      },
      expected ? 'NSX has no such object' : 'NSX call failed',
    )
    return safe
  }

  const send = async (
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Response> => {
    try {
      return await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(timeoutMs),
        // Node's fetch takes an undici dispatcher; its RequestInit type does not name it.
        dispatcher,
      } as RequestInit)
    } catch (error) {
      throw transportError(error, origin, timeoutMs)
    }
  }

  const signIn = async (): Promise<Session> => {
    const form = new URLSearchParams({ j_username: username, j_password: password }).toString()
    const response = await send(
      'POST',
      `${origin}/api/session/create`,
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      form,
    )
    await response.arrayBuffer()
    if (!response.ok)
      throw new NsxError(
        codeOfStatus(response.status) === 'unavailable' ? 'unavailable' : 'rejected',
        `NSX Manager ${origin} refused to open a session for "${username}" (HTTP ${response.status}): check the account and its password`,
        { status: response.status },
      )
    const cookies = response.headers.getSetCookie().map((c) => c.split(';')[0] ?? '')
    const jsession = cookies.find((c) => c.startsWith('JSESSIONID='))
    if (jsession === undefined)
      throw new NsxError(
        'rejected',
        `NSX Manager ${origin} opened no session (no JSESSIONID cookie): is the address that of NSX Manager?`,
      )
    return { cookie: jsession, xsrf: response.headers.get('x-xsrf-token') ?? undefined }
  }

  const authHeaders = async (): Promise<Record<string, string>> => {
    if (options.auth !== 'session') return { authorization: basic }
    if (session === undefined) {
      signingIn ??= signIn().finally(() => {
        signingIn = undefined
      })
      session = await signingIn
    }
    return { cookie: session.cookie, ...(session.xsrf === undefined ? {} : { 'x-xsrf-token': session.xsrf }) }
  }

  /** One call; answers the parsed body (undefined when empty). */
  const call = async (
    method: string,
    path: string,
    body?: Record<string, unknown>,
  ): Promise<unknown | undefined> => {
    const secrets = [password, ...secretsOf(body)]
    const started = Date.now()
    const payload = body === undefined ? undefined : JSON.stringify(body)
    try {
      let response: Response | undefined
      for (let attempt = 0; attempt < 2; attempt++) {
        const headers = {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...(await authHeaders()),
        }
        response = await send(method, `${origin}${path}`, headers, payload)
        // An expired session: sign in once more and repeat the call.
        if (
          options.auth === 'session' &&
          (response.status === 401 || response.status === 403) &&
          attempt === 0
        ) {
          await response.arrayBuffer()
          session = undefined
          continue
        }
        break
      }
      if (response === undefined) throw new NsxError('unavailable', `NSX Manager ${origin} did not answer`)
      let text: string
      try {
        text = await response.text()
      } catch (error) {
        // The time bound (or a reset) while the body was still coming.
        throw transportError(error, origin, timeoutMs)
      }
      if (!response.ok) throw answerError(response.status, text, method, path)
      log?.debug({ method, path, status: response.status, ms: Date.now() - started }, 'NSX call')
      if (text.trim() === '') return undefined
      try {
        return JSON.parse(text)
      } catch {
        throw new NsxError(
          'unavailable',
          `NSX Manager ${origin} answered ${method} ${path} with a body that is not JSON: is the address that of NSX Manager?`,
          { status: response.status },
        )
      }
    } catch (error) {
      if (error instanceof NsxError) throw fail(error, method, path, secrets, started)
      throw error
    }
  }

  const objectPath = (kind: NsxKind, id: string): string => {
    // "." and ".." would be resolved away by the URL, naming the collection or its parent.
    if (!idPattern.test(id) || /^\.+$/.test(id))
      throw new NsxError(
        'invalid',
        `"${id.slice(0, 80)}" is not an NSX object id (letters, digits, ".", "_" and "-", at most 255)`,
      )
    return `${policyRoot}${kinds[kind].collection}/${encodeURIComponent(id)}`
  }

  return {
    async get(kind, id) {
      try {
        return (await call('GET', objectPath(kind, id))) as NsxObject
      } catch (error) {
        if (error instanceof NsxError && error.code === 'not-found') return undefined
        throw error
      }
    },
    async patch(kind, id, body) {
      await call('PATCH', objectPath(kind, id), body)
    },
    async put(kind, id, body) {
      return (await call('PUT', objectPath(kind, id), body)) as NsxObject
    },
    async delete(kind, id) {
      try {
        await call('DELETE', objectPath(kind, id))
      } catch (error) {
        if (error instanceof NsxError && error.code === 'not-found') return
        throw error
      }
    },
    async realization(intentPath) {
      const params = new URLSearchParams({ intent_path: intentPath })
      return ((await call('GET', `${policyRoot}/infra/realized-state/status?${params}`)) ??
        {}) as ConsolidatedRealizedStatus
    },
    async search(query) {
      const found: NsxObject[] = []
      let cursor: string | undefined
      for (let page = 0; page < 1000; page++) {
        const params = new URLSearchParams({ query, ...(cursor === undefined ? {} : { cursor }) })
        const answer = (await call('GET', `${policyRoot}/search/query?${params}`)) as
          | { results?: NsxObject[]; cursor?: string }
          | undefined
        found.push(...(answer?.results ?? []))
        cursor = answer?.cursor
        if (cursor === undefined || cursor === '' || (answer?.results ?? []).length === 0) break
      }
      return found
    },
    async close() {
      if (closed) return
      closed = true
      // A session is ended on NSX Manager too, rather than left to time out.
      const open = session
      session = undefined
      if (open !== undefined) {
        try {
          const headers = {
            cookie: open.cookie,
            ...(open.xsrf === undefined ? {} : { 'x-xsrf-token': open.xsrf }),
          }
          const response = await send('POST', `${origin}/api/session/destroy`, headers, undefined)
          await response.arrayBuffer()
        } catch {
          // The session times out on its own.
        }
      }
      await dispatcher.close()
    },
  }
}

function secretsOf(body: Record<string, unknown> | undefined): string[] {
  if (body === undefined) return []
  const found: string[] = []
  for (const field of secretFields) {
    const value = body[field]
    if (typeof value === 'string') found.push(value)
  }
  return found
}

/** The error of an answer that is not 2xx, with NSX's own message when it sent an ApiError. */
function answerError(status: number, text: string, method: string, path: string): NsxError {
  const code = codeOfStatus(status)
  let apiError: ApiError | undefined
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed === 'object' && parsed !== null) apiError = parsed as ApiError
  } catch {
    apiError = undefined
  }
  const what = path.replace(policyRoot, '').split('?')[0]
  const said = [
    apiError?.error_message,
    ...(apiError?.related_errors ?? []).map((related) => related.error_message),
  ].filter((m): m is string => typeof m === 'string' && m !== '')
  const nsxCode = typeof apiError?.error_code === 'number' ? apiError.error_code : undefined
  const message =
    `NSX ${method} ${what} failed with HTTP ${status}` +
    (nsxCode === undefined ? '' : ` (NSX error ${nsxCode})`) +
    (said.length === 0 ? '' : `: ${said.join('; ')}`) +
    ` — ${adviceOf[code]}`
  return new NsxError(code, message, { status, ...(nsxCode === undefined ? {} : { nsxErrorCode: nsxCode }) })
}

/** The error of a call that got no answer: refused, reset, a TLS failure or the time bound. */
function transportError(error: unknown, origin: string, timeoutMs: number): NsxError {
  const name = error instanceof Error ? error.name : ''
  if (name === 'TimeoutError' || name === 'AbortError')
    return new NsxError(
      'timeout',
      `NSX Manager ${origin} did not answer within ${timeoutMs} ms — ${adviceOf.timeout}`,
    )
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined
  const code = cause?.code ?? ''
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME/.test(code))
    return new NsxError(
      'rejected',
      `the certificate of NSX Manager ${origin} is not trusted (${code}): give the client the CA that signed it`,
    )
  return new NsxError(
    'unavailable',
    `NSX Manager ${origin} could not be reached${code === '' ? '' : ` (${code})`} — ${adviceOf.unavailable}`,
  )
}
