import type { onRequestHookHandler } from 'fastify'
import { AuthenticationError, NotAllowedError, NotFoundError, UnavailableError } from '../errors.ts'
import type { HttpApp } from '../http/app.ts'
import { withScope } from '../scope.ts'
import { actorOf, decide, type Principal, type Requirement } from './access.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route. Every route under /v1 declares it; one without it fails to register. */
    auth?: Requirement
  }
  interface FastifyRequest {
    /** Who is calling (set by the guard on every route that is not public). */
    principal?: Principal
    /** The organisation the request acts in, when the route is tenant-scoped. */
    orgId?: string
  }
}

/** Turns the Authorization header into a principal; the identity context provides it. */
export interface Authenticator {
  /** AuthenticationError when the header proves nothing (expired, tampered, revoked, unknown). */
  authenticate(authorization: string): Promise<Principal>
}

/** Organisation ids are UUIDs (identity mints them). */
const organisationId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The header that picks the organisation when a route names none and the caller belongs to several. */
export const orgHeader = 'x-rxt-org'

/** Where the organisation of a request comes from: the path, the header, or the caller's only one. */
function orgOf(
  params: unknown,
  header: string | string[] | undefined,
  principal: Principal,
): string | undefined {
  const fromPath = (params as Record<string, unknown> | undefined)?.orgId
  if (typeof fromPath === 'string') return fromPath
  if (typeof header === 'string' && header !== '') return header
  if (principal.orgs.size === 1) return principal.orgs.keys().next().value
  return undefined
}

const guard =
  (requirement: Requirement, authenticator: () => Authenticator | undefined): onRequestHookHandler =>
  (request, _reply, done) => {
    const header = request.headers.authorization
    const auth = authenticator()
    if (auth === undefined) {
      done(new UnavailableError('no identity context runs in this process to authenticate the request'))
      return
    }
    if (header === undefined || header === '') {
      done(
        new AuthenticationError(
          'authentication required: send Authorization: Bearer <token>, ApiKey <key> or Service <credential>',
        ),
      )
      return
    }
    auth.authenticate(header).then(
      (principal) => {
        const orgId = orgOf(request.params, request.headers[orgHeader], principal)
        const decision = decide(principal, requirement, orgId)
        if (!decision.allowed) {
          // An organisation the caller does not belong to looks absent (OWASP API1): 404, not 403.
          done(
            decision.reason === 'not-member'
              ? new NotFoundError(
                  orgId === undefined
                    ? `name the organisation: in the path or the ${orgHeader} header`
                    : `no organisation ${orgId}`,
                )
              : new NotAllowedError(decision.detail),
          )
          return
        }
        request.principal = principal
        // A service may name any organisation, so what it names must at least be an organisation id.
        if (principal.everyOrg !== undefined && orgId !== undefined && !organisationId.test(orgId)) {
          done(new NotFoundError(`no organisation ${orgId}`))
          return
        }
        if (orgId !== undefined && (principal.orgs.has(orgId) || principal.everyOrg !== undefined))
          request.orgId = orgId
        const actor = actorOf(principal)
        withScope(request.orgId === undefined ? { actor } : { tenantId: request.orgId, actor }, done)
      },
      (error: unknown) => done(error as Error),
    )
  }

/**
 * The organisation the guard let the request act in — never the path's value taken on trust: were a
 * decision ever wrong, the request would still reach no tenant's rows. 404 on a route without one.
 */
export const tenantOf = (request: { orgId?: string }): string => {
  if (request.orgId === undefined) throw new NotFoundError('no such organisation')
  return request.orgId
}

/** The caller of a guarded route (the guard set it). */
export const principalOf = (request: { principal?: Principal }): Principal => {
  if (request.principal === undefined) throw new NotFoundError('no principal on this request')
  return request.principal
}

/**
 * Guards every route registered in `app` from now on: a route without `config.auth` fails to register
 * (default deny), a public one says why in its OpenAPI description, the others authenticate and are
 * decided by `decide` before validation or handler run.
 */
export function guardRoutes(app: HttpApp, authenticator: () => Authenticator | undefined): void {
  app.addHook('onRoute', (route) => {
    const requirement = route.config?.auth
    if (requirement === undefined) {
      throw new Error(
        `route ${String(route.method)} ${route.url} does not declare config.auth: every route says who may call it`,
      )
    }
    if ('public' in requirement) {
      route.schema = { ...route.schema, security: [] }
      return
    }
    route.schema = { ...route.schema, security: [{ bearer: [] }, { apiKey: [] }, { service: [] }] }
    const hook = guard(requirement, authenticator)
    route.onRequest = route.onRequest === undefined ? [hook] : [...[route.onRequest].flat(), hook]
  })
}
