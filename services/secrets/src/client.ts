import { orgHeader, type PeerCall, peerAnswer } from '@rxt/kit'

/** What a grant reads: each reference's pinned version and its value (a secret: never logged, never kept). */
export interface GrantValues {
  readonly deploymentId: string
  readonly envId: string
  readonly expiresAt: string
  readonly values: readonly { readonly ref: string; readonly version: number; readonly value: string }[]
}

/**
 * The secrets context's published client, for the adapters: it reads a deployment's values by the
 * grant the deploy saga was given (`evt.secret.granted`), as the calling service (deps.peer('secrets')).
 * Each read is an `evt.secret.accessed` there. A grant that expired or is not the tenant's is a
 * NotFoundError; the secrets context out of reach, an UnavailableError.
 */
export function createSecretsClient(peer: PeerCall) {
  return {
    async grantValues(orgId: string, grantId: string): Promise<GrantValues> {
      const response = await peer({
        method: 'GET',
        path: `/v1/secrets/grants/${encodeURIComponent(grantId)}/values`,
        headers: { [orgHeader]: orgId },
      })
      return peerAnswer<GrantValues>(response, 'secrets')
    },
  }
}
export type SecretsClient = ReturnType<typeof createSecretsClient>
