import {
  actorOf,
  type HttpApp,
  orgHeader,
  type PeersOf,
  Permission,
  peerAnswer,
  principalOf,
  problemResponses,
  tenantOf,
} from '@rxt/kit'
import Type from 'typebox'

/** The header a platform service names the person it acts for by (the spot broker records it). */
export const onBehalfOfHeader = 'x-rxt-on-behalf-of'

const Kubeconfig = Type.Object({
  envId: Type.String(),
  namespace: Type.String(),
  serviceAccount: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  kubeconfig: Type.String({
    description: "A kubeconfig for the environment's namespace with a token that lives an hour (a secret)",
  }),
})

/**
 * Short-lived kubeconfigs through the secrets API, where people come for credentials: issued by the RXT
 * Spot broker (read access to one environment's namespace, an hour), asked for as this context's
 * service on behalf of the caller, whom the broker's evt.spot.credentials.issued names. Not cached.
 */
export const kubeconfigRoutes = (peer: PeersOf) => (app: HttpApp) => {
  app.post(
    '/secrets/environments/:envId/kubeconfig',
    {
      // Shown once: an Idempotency-Key replay never hands the token back from storage.
      config: { auth: { permission: Permission.deploymentsWrite }, shownOnce: true },
      schema: {
        tags: ['secrets'],
        summary:
          "A short-lived kubeconfig for an environment's namespace on RXT Spot (an hour; its broker issues it and records who asked)",
        params: Type.Object({
          envId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' }),
        }),
        response: { 200: Kubeconfig, ...problemResponses },
      },
    },
    async (request, reply) => {
      const answer = await peer('spot')({
        method: 'POST',
        path: `/v1/environments/${encodeURIComponent(request.params.envId)}/kubeconfig`,
        headers: { [orgHeader]: tenantOf(request), [onBehalfOfHeader]: actorOf(principalOf(request)) },
      })
      return reply.header('cache-control', 'no-store').send(peerAnswer(answer, 'spot'))
    },
  )
}
