import {
  actorOf,
  type ContextDeps,
  type HttpApp,
  NotFoundError,
  Permission,
  principalOf,
  problemResponses,
  tenantOf,
  UnavailableError,
} from '@rxt/kit'
import { FailureCode } from '@rxt/platform-sdk'
import Type from 'typebox'
import type { SpotConfig } from './index.ts'
import type { SpotPlatform } from './spot-platform.ts'

const Credentials = Type.Object({
  envId: Type.String(),
  namespace: Type.String(),
  serviceAccount: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  kubeconfig: Type.String({
    description:
      "A kubeconfig for the environment's namespace with a short-lived token: read access to its workloads and logs, nothing else",
  }),
})

/**
 * Who the credentials are for: the caller, or, when a platform service asks (the secrets context's
 * kubeconfig route), the person it names in x-rxt-on-behalf-of (the service is in the request's
 * audit record).
 */
const issuedTo = (request: Parameters<typeof principalOf>[0] & { headers: Record<string, unknown> }) => {
  const principal = principalOf(request)
  const onBehalfOf = request.headers['x-rxt-on-behalf-of']
  // Only the secrets context of this process (its kubeconfig route) names the person: no other service
  // credential may choose whose name an issue is recorded under.
  return principal.kind === 'service' &&
    principal.id === 'secrets' &&
    principal.everyOrg?.role === 'service' &&
    principal.orgs.size === 0 &&
    typeof onBehalfOf === 'string' &&
    onBehalfOf.length <= 128 &&
    /^(user|api-key):[A-Za-z0-9._-]+$/.test(onBehalfOf)
    ? onBehalfOf
    : actorOf(principal)
}

/**
 * The kubeconfig broker: short-lived credentials for one environment's namespace, for people who
 * deploy there. Deploy permission is asked because logs may hold what the application prints; every
 * issue is audited (evt.spot.credentials.issued), never with the token.
 */
export function credentialsRoutes(
  app: HttpApp,
  deps: ContextDeps<SpotConfig>,
  platformOf: () => SpotPlatform | undefined,
): void {
  app.post(
    '/environments/:envId/kubeconfig',
    {
      // Shown once: an Idempotency-Key replay never hands the token back from storage.
      config: { auth: { permission: Permission.deploymentsWrite }, shownOnce: true },
      schema: {
        tags: ['spot'],
        summary: "A kubeconfig for an environment's namespace on RXT Spot, with a token that lives an hour",
        params: Type.Object({
          envId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' }),
        }),
        response: { 200: Credentials, ...problemResponses },
      },
    },
    async (request, reply) => {
      const platform = platformOf()
      // With no cluster there is no environment on RXT Spot, anyone's.
      if (platform === undefined)
        throw new NotFoundError(
          `no environment ${request.params.envId} on RXT Spot: no cluster is configured`,
        )
      const tenantId = tenantOf(request)
      const { envId } = request.params
      const issued = await platform.credentials(envId, tenantId, deps.config.SPOT_TOKEN_TTL_SECONDS)
      if (!issued.ok) {
        if (issued.failure.code === FailureCode.notFound)
          throw new NotFoundError(`no environment ${envId} on RXT Spot`)
        throw new UnavailableError(`RXT Spot could not issue credentials: ${issued.failure.message}`)
      }
      const { namespace, serviceAccount, expiresAt, kubeconfig } = issued.value
      await deps.db.transaction((tx) =>
        deps.bus.publish(tx, {
          type: 'evt.spot.credentials.issued',
          tenantId,
          key: envId,
          data: { envId, namespace, serviceAccount, issuedTo: issuedTo(request), expiresAt },
        }),
      )
      reply.header('cache-control', 'no-store')
      return { envId, namespace, serviceAccount, expiresAt, kubeconfig }
    },
  )
}
