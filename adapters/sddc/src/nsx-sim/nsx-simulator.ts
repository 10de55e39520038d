/**
 * A SIMULATION OF THE NSX POLICY API, NOT NSX.
 *
 * An in-memory HTTP server answering the few Policy API endpoints the adapter calls (segments,
 * Tier-1 gateways, LB services, pools and virtual servers, certificates, groups, security policies,
 * realization status, the search API, and session sign-in and sign-out), for tests of the NSX client where no NSX Manager is at hand.
 * There is no data plane: no packet is switched, balanced or filtered, no certificate is served.
 *
 * What is taken from VMware's published bindings (see ../nsx/wire.ts): the paths, the wire names and
 * types of the request and answer bodies, `_revision`, and the ApiError shape of errors. What is the
 * simulator's own: its checks (which references must exist, what is "in use"), its error codes and
 * messages, and its search, which understands only `field:value` terms joined by AND and is
 * consistent at once (a real Manager's search index lags writes). See docs/adr/0029.
 *
 * It is a bare Fastify server, not the kit's HTTP app: NSX answers errors as ApiError documents, not
 * problem+json, and has none of the kit's probes or metrics routes.
 */
import { randomBytes } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { violations } from '@rxt/contracts'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { Compile, type Validator } from 'typebox/compile'
import { type ApiError, kinds, type NsxKind, patchSemantics } from '../nsx/wire.ts'

export interface NsxSimulatorOptions {
  /** The one account the simulation accepts (basic authentication or a session). */
  readonly username: string
  readonly password: string
  /** Serve HTTPS with this key and certificate (PEM); HTTP when absent. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** 127.0.0.1 when not given. */
  readonly host?: string
  /** A free port when not given. */
  readonly port?: number
}

export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly body: unknown
}

export interface NsxSimulator {
  /** The address to give the client, as "http://127.0.0.1:40123". */
  readonly url: string
  /** The switch for outage tests: every call fails, or waits, until cleared. */
  readonly outage: {
    /** Every call answers `status` (503 when not given) with an ApiError. */
    fail(status?: number): void
    /** Every call waits until resume() (or close()). */
    pause(): void
    resume(): void
  }
  /** While held, every object reads as not realized yet (UNREALIZED, IN_PROGRESS). */
  holdRealization(held: boolean): void
  /** Ends every session, as a Manager does when a session times out. */
  expireSessions(): void
  /** How many sessions are open. */
  sessionCount(): number
  /** The objects held (not the built-in profiles and services), as GET answers them. */
  objects(): Record<string, unknown>[]
  /** Every request with its parsed body, oldest first (the simulation keeps secrets in memory only). */
  readonly requests: readonly RecordedRequest[]
  close(): Promise<void>
}

const policyRoot = '/policy/api/v1'

/** Paths a fresh Manager has: the default LB profiles, a few services, a Tier-0. */
export const builtInPaths: readonly string[] = [
  '/infra/lb-app-profiles/default-http-lb-app-profile',
  '/infra/lb-app-profiles/default-tcp-lb-app-profile',
  '/infra/lb-client-ssl-profiles/default-balanced-client-ssl-profile',
  '/infra/services/HTTP',
  '/infra/services/HTTPS',
  '/infra/services/SSH',
  '/infra/tier-0s/sim-t0',
]

const statusNames: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  500: 'INTERNAL_SERVER_ERROR',
  503: 'SERVICE_UNAVAILABLE',
}

/** The simulation's own error codes (not NSX's numbers), one per kind of refusal. */
const SimErrorCode = {
  invalid: 9400,
  credentials: 9403,
  notFound: 9404,
  inUse: 9409,
  revision: 9412,
  outage: 9503,
} as const

class SimError extends Error {
  readonly status: number
  readonly errorCode: number
  readonly related: readonly string[]
  constructor(status: number, errorCode: number, message: string, related: readonly string[] = []) {
    super(message)
    this.status = status
    this.errorCode = errorCode
    this.related = related
  }
}

const apiError = (error: SimError): ApiError => ({
  httpStatus: statusNames[error.status] ?? 'ERROR',
  error_code: error.errorCode,
  module_name: 'nsx-simulation',
  error_message: error.message,
  ...(error.related.length === 0
    ? {}
    : {
        related_errors: error.related.map((message) => ({
          error_code: error.errorCode,
          module_name: 'nsx-simulation',
          error_message: message,
        })),
      }),
})

type Stored = Record<string, unknown> & { path: string; _revision: number; resource_type: string }

/** Starts the simulation on a free port of the loopback interface. */
export async function startNsxSimulator(options: NsxSimulatorOptions): Promise<NsxSimulator> {
  const app = Fastify({
    logger: false,
    ...(options.tls === undefined ? {} : { https: { key: options.tls.key, cert: options.tls.cert } }),
  })
  const store = new Map<string, Stored>()
  const sessions = new Map<string, string>()
  const requests: RecordedRequest[] = []
  const validators = new Map<NsxKind, Validator>()
  const validatorOf = (kind: NsxKind): Validator => {
    let validator = validators.get(kind)
    if (validator === undefined) {
      validator = Compile(kinds[kind].body) as Validator
      validators.set(kind, validator)
    }
    return validator
  }
  let failing: number | undefined
  let realizing = false
  let paused: { promise: Promise<void>; resolve: () => void } | undefined

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  )

  // Every answer says what answered it.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-rxt-simulation', 'a simulation of the NSX Policy API, not NSX')
  })

  app.addHook('onRequest', async () => {
    if (paused !== undefined) await paused.promise
    if (failing !== undefined)
      throw new SimError(
        failing,
        SimErrorCode.outage,
        'the simulation was told to fail every call (outage test)',
      )
  })
  app.addHook('preHandler', async (request) => {
    // The sign-in form (its password) is not kept.
    if (request.url === '/api/session/create') {
      requests.push({ method: request.method, url: request.url, body: undefined })
      return
    }
    requests.push({ method: request.method, url: request.url, body: request.body })
    if (!authenticated(request))
      throw new SimError(
        403,
        SimErrorCode.credentials,
        'The credentials were incorrect or the account specified has been locked.',
      )
  })

  const authenticated = (request: FastifyRequest): boolean => {
    const header = request.headers.authorization
    if (header?.startsWith('Basic ')) {
      const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':')
      return user === options.username && rest.join(':') === options.password
    }
    const cookie = /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
    if (cookie === undefined) return false
    const xsrf = sessions.get(cookie)
    return xsrf !== undefined && request.headers['x-xsrf-token'] === xsrf
  }

  app.setErrorHandler((error, _request, reply) => {
    // Fastify's own refusals (a body that is not JSON, a media type it does not take) are named by
    // their code, never by their message, which can quote the body.
    const framework = error as { statusCode?: number; code?: string }
    const simError =
      error instanceof SimError
        ? error
        : framework.statusCode !== undefined && framework.statusCode < 500
          ? new SimError(
              400,
              SimErrorCode.invalid,
              `The request was refused (${framework.code ?? 'bad request'}).`,
            )
          : new SimError(500, 100, 'the simulation failed')
    return reply.code(simError.status).type('application/json').send(apiError(simError))
  })
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        apiError(
          new SimError(
            404,
            SimErrorCode.notFound,
            `The requested URI: ${request.url.split('?')[0]} could not be found.`,
          ),
        ),
      ),
  )

  app.post('/api/session/destroy', async (request, reply) => {
    const cookie = /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
    if (cookie !== undefined) sessions.delete(cookie)
    return reply.code(200).send('')
  })

  app.post('/api/session/create', async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, string>
    if (form.j_username !== options.username || form.j_password !== options.password)
      throw new SimError(
        403,
        SimErrorCode.credentials,
        'The credentials were incorrect or the account specified has been locked.',
      )
    const id = randomBytes(16).toString('hex')
    const xsrf = randomBytes(16).toString('hex')
    sessions.set(id, xsrf)
    reply.header('set-cookie', `JSESSIONID=${id}; Path=/; Secure; HttpOnly`).header('x-xsrf-token', xsrf)
    return reply.code(200).send('')
  })

  const exists = (path: string) => store.has(path) || builtInPaths.includes(path)
  const view = (object: Stored): Record<string, unknown> => {
    const { private_key: _key, passphrase: _passphrase, ...rest } = object
    return object.resource_type === 'TlsCertificate'
      ? { ...rest, has_private_key: typeof _key === 'string' }
      : rest
  }

  for (const kind of Object.keys(kinds) as NsxKind[]) {
    const spec = kinds[kind]
    const objectRoute = `${policyRoot}${spec.collection}/:id`
    const pathOf = (id: string) => `${spec.collection}/${id}`

    app.get(objectRoute, async (request) => {
      const { id } = request.params as { id: string }
      const found = store.get(pathOf(id))
      if (found === undefined) throw notFound(pathOf(id))
      return view(found)
    })
    app.get(`${policyRoot}${spec.collection}`, async () => {
      const results = [...store.values()].filter((o) => o.resource_type === spec.resourceType).map(view)
      return { results, result_count: results.length }
    })

    const write = (request: FastifyRequest, replace: boolean): Stored => {
      const { id } = request.params as { id: string }
      const body = request.body
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new SimError(400, SimErrorCode.invalid, 'The request body must be a JSON object.')
      const validator = validatorOf(kind)
      if (!validator.Check(body)) {
        const found = violations(validator, body, '')
        throw new SimError(
          400,
          SimErrorCode.invalid,
          `${spec.resourceType} ${id} is not valid: ${found.length} problem(s).`,
          found.map((v) => `${v.path || '/'} ${v.message}`),
        )
      }
      const given = body as Record<string, unknown>
      if (given.id !== undefined && given.id !== id)
        throw new SimError(
          400,
          SimErrorCode.invalid,
          `The id ${String(given.id)} in the body is not the id ${id} of the URI.`,
        )
      const path = pathOf(id)
      const current = store.get(path)
      const revision = given._revision
      if (current !== undefined && replace && revision === undefined)
        throw new SimError(
          412,
          SimErrorCode.revision,
          `${spec.resourceType} ${id} exists: a PUT must give its _revision.`,
        )
      if (current !== undefined && revision !== undefined && revision !== current._revision)
        throw revisionMismatch(spec.resourceType, id)
      if (current !== undefined && patchSemantics[kind] === 'keep') return current
      const merges = !replace && patchSemantics[kind] === 'merge'
      const merged: Record<string, unknown> = merges ? { ...(current ?? {}), ...given } : { ...given }
      checkReferences(kind, merged)
      const now = Date.now()
      const stored: Stored = {
        ...merged,
        id,
        path,
        relative_path: id,
        parent_path: spec.collection.slice(0, spec.collection.lastIndexOf('/')) || '/infra',
        resource_type: spec.resourceType,
        display_name: typeof merged.display_name === 'string' ? merged.display_name : id,
        marked_for_delete: false,
        _system_owned: false,
        _create_time: current?._create_time ?? now,
        _last_modified_time: now,
        _revision: current === undefined ? 0 : current._revision + 1,
      }
      store.set(path, stored)
      return stored
    }

    app.patch(objectRoute, async (request, reply) => {
      write(request, false)
      return reply.code(200).send('')
    })
    app.put(objectRoute, async (request) => view(write(request, true)))
    app.delete(objectRoute, async (request: FastifyRequest, reply: FastifyReply) => {
      const { id } = request.params as { id: string }
      const path = pathOf(id)
      if (!store.has(path)) throw notFound(path)
      const users = [...store.values()].filter((o) => o.path !== path && refersTo(o, path)).map((o) => o.path)
      if (users.length > 0)
        throw new SimError(
          400,
          SimErrorCode.inUse,
          `The object path=[${path}] cannot be deleted as it is in use by ${users.join(', ')}.`,
        )
      store.delete(path)
      return reply.code(200).send('')
    })
  }

  const checkReferences = (kind: NsxKind, object: Record<string, unknown>): void => {
    const problems: string[] = []
    const mustExist = (field: string, path: unknown) => {
      if (typeof path === 'string' && path !== 'ANY' && !exists(path))
        problems.push(`${field}: the object path=[${path}] does not exist`)
    }
    switch (kind) {
      case 'segment': {
        mustExist('connectivity_path', object.connectivity_path)
        for (const subnet of (object.subnets ?? []) as { gateway_address?: string }[])
          if (subnet.gateway_address !== undefined && !isCidr(subnet.gateway_address))
            problems.push(
              `subnets.gateway_address: ${subnet.gateway_address} is not an IPv4 address with a prefix`,
            )
        break
      }
      case 'tier1':
        mustExist('tier0_path', object.tier0_path)
        break
      case 'lb-service':
        mustExist('connectivity_path', object.connectivity_path)
        break
      case 'lb-pool':
        for (const member of (object.members ?? []) as { ip_address: string; port?: string }[]) {
          if (!isIPv4(member.ip_address))
            problems.push(`members.ip_address: ${member.ip_address} is not an IPv4 address`)
          if (member.port !== undefined && !isPortString(member.port))
            problems.push(`members.port: ${member.port} is not a port`)
        }
        break
      case 'lb-virtual-server': {
        if (typeof object.ip_address !== 'string' || !isIPv4(object.ip_address))
          problems.push(`ip_address: ${String(object.ip_address)} is not an IPv4 address`)
        for (const port of (object.ports ?? []) as string[])
          if (!isPortString(port)) problems.push(`ports: ${port} is not a port`)
        if (object.application_profile_path === undefined)
          problems.push('application_profile_path: is required')
        mustExist('application_profile_path', object.application_profile_path)
        mustExist('pool_path', object.pool_path)
        mustExist('lb_service_path', object.lb_service_path)
        const binding = object.client_ssl_profile_binding as
          | { default_certificate_path: string; ssl_profile_path?: string }
          | undefined
        if (binding !== undefined) {
          mustExist('client_ssl_profile_binding.default_certificate_path', binding.default_certificate_path)
          mustExist('client_ssl_profile_binding.ssl_profile_path', binding.ssl_profile_path)
          const certificate = store.get(binding.default_certificate_path)
          if (certificate !== undefined && typeof certificate.private_key !== 'string')
            problems.push(
              'client_ssl_profile_binding.default_certificate_path: the certificate has no private key',
            )
        }
        break
      }
      case 'certificate':
        if (
          !/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/.test(String(object.pem_encoded))
        )
          problems.push('pem_encoded: is not a PEM certificate')
        if (
          object.private_key !== undefined &&
          !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(String(object.private_key))
        )
          // Never quote the key.
          problems.push('private_key: is not a PEM private key')
        break
      case 'group':
        break
      case 'security-policy':
        for (const path of (object.scope ?? []) as string[]) mustExist('scope', path)
        for (const rule of (object.rules ?? []) as Record<string, unknown>[])
          for (const field of ['source_groups', 'destination_groups', 'services', 'scope'])
            for (const path of (rule[field] ?? []) as string[]) mustExist(`rules.${field}`, path)
        break
    }
    if (problems.length > 0)
      throw new SimError(400, SimErrorCode.invalid, `The ${kinds[kind].resourceType} is not valid.`, problems)
  }

  // Everything held is realized at once, unless a test holds realization back.
  app.get(`${policyRoot}/infra/realized-state/status`, async (request) => {
    const { intent_path } = request.query as { intent_path?: string }
    if (intent_path === undefined)
      throw new SimError(400, SimErrorCode.invalid, 'The intent_path parameter is required.')
    if (!store.has(intent_path)) throw notFound(intent_path)
    return {
      intent_path,
      publish_status: realizing ? 'UNREALIZED' : 'REALIZED',
      consolidated_status: { consolidated_status: realizing ? 'IN_PROGRESS' : 'SUCCESS' },
    }
  })

  app.get(`${policyRoot}/search/query`, async (request) => {
    const { query, cursor, page_size } = request.query as {
      query?: string
      cursor?: string
      page_size?: string
    }
    if (query === undefined || query.trim() === '')
      throw new SimError(400, SimErrorCode.invalid, 'The query parameter is required.')
    const terms = parseQuery(query)
    const matching = [...store.values()]
      .filter((object) => terms.every((term) => matches(object, term)))
      .sort((a, b) => a.path.localeCompare(b.path))
      .map(view)
    const start = cursor === undefined ? 0 : Number(cursor)
    const size = page_size === undefined ? 1000 : Math.min(Math.max(Number(page_size), 1), 1000)
    if (!Number.isInteger(start) || start < 0)
      throw new SimError(400, SimErrorCode.invalid, 'The cursor is not valid.')
    const results = matching.slice(start, start + size)
    const next = start + size < matching.length ? String(start + size) : undefined
    return { results, result_count: matching.length, ...(next === undefined ? {} : { cursor: next }) }
  })

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const url = `${options.tls === undefined ? 'http' : 'https'}://${options.host ?? '127.0.0.1'}:${port}`

  return {
    url,
    outage: {
      fail(status = 503) {
        failing = status
      },
      pause() {
        if (paused !== undefined) return
        let resolve = () => {}
        const promise = new Promise<void>((r) => {
          resolve = r
        })
        paused = { promise, resolve }
      },
      resume() {
        failing = undefined
        paused?.resolve()
        paused = undefined
      },
    },
    holdRealization(held) {
      realizing = held
    },
    expireSessions() {
      sessions.clear()
    },
    sessionCount: () => sessions.size,
    objects: () => [...store.values()].map(view),
    requests,
    async close() {
      paused?.resolve()
      paused = undefined
      await app.close()
    },
  }
}

const notFound = (path: string) =>
  new SimError(404, SimErrorCode.notFound, `The path=[${path}] is invalid or the object does not exist.`)

const revisionMismatch = (type: string, id: string) =>
  new SimError(
    412,
    SimErrorCode.revision,
    `The object ${type} ${id} was modified by somebody else: read it again and repeat the change with its _revision.`,
  )

const isPortString = (port: string) => /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535

function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/')
  const length = Number(prefix)
  return rest.length === 0 && isIPv4(address ?? '') && Number.isInteger(length) && length >= 0 && length <= 32
}

/** Whether any string in the object (at any depth) is exactly `path`. */
function refersTo(value: unknown, path: string): boolean {
  if (value === path) return true
  if (Array.isArray(value)) return value.some((v) => refersTo(v, path))
  if (typeof value === 'object' && value !== null) return Object.values(value).some((v) => refersTo(v, path))
  return false
}

interface Term {
  readonly field: string
  readonly value: string
}

const searchFields = new Set(['resource_type', 'id', 'display_name', 'path', 'tags.scope', 'tags.tag'])

/** `field:value` terms joined by AND (backslash escapes), the part of NSX's search syntax simulated. */
function parseQuery(query: string): Term[] {
  const parts: string[] = []
  let current = ''
  for (let i = 0; i < query.length; i++) {
    const c = query[i] as string
    if (c === '\\' && i + 1 < query.length) {
      current += c + query[i + 1]
      i++
    } else if (query.startsWith(' AND ', i)) {
      parts.push(current)
      current = ''
      i += 4
    } else current += c
  }
  parts.push(current)
  return parts.map((part) => {
    const at = unescapedColon(part)
    const field = part.slice(0, at).trim()
    if (at < 0 || !searchFields.has(field))
      throw new SimError(
        400,
        SimErrorCode.invalid,
        `The simulation understands only field:value terms joined by AND, over ${[...searchFields].join(', ')}.`,
      )
    return { field, value: part.slice(at + 1).replace(/\\(.)/g, '$1') }
  })
}

function unescapedColon(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++
    else if (text[i] === ':') return i
  }
  return -1
}

function matches(object: Stored, term: Term): boolean {
  const tags = (object.tags ?? []) as { scope: string; tag: string }[]
  if (term.field === 'tags.scope') return tags.some((t) => t.scope === term.value)
  if (term.field === 'tags.tag') return tags.some((t) => t.tag === term.value)
  return object[term.field] === term.value
}
