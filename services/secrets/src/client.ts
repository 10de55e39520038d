import { orgHeader, type PeerCall, peerAnswer, UnavailableError } from '@rxt/kit'

/** What a grant reads: each reference's pinned version and its value (a secret: never logged, never kept). */
export interface GrantValues {
  readonly deploymentId: string
  readonly envId: string
  readonly expiresAt: string
  readonly values: readonly { readonly ref: string; readonly version: number; readonly value: string }[]
}

export interface SecretsClient {
  /** A live grant's values. NotFoundError when it is unknown, expired or another organisation's. */
  grantValues(orgId: string, grantId: string): Promise<GrantValues>
}

const isGrantValues = (body: unknown): body is GrantValues => {
  const b = body as Partial<GrantValues> | null
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.deploymentId === 'string' &&
    typeof b.envId === 'string' &&
    typeof b.expiresAt === 'string' &&
    Array.isArray(b.values) &&
    b.values.every(
      (v) => typeof v?.ref === 'string' && typeof v.version === 'number' && typeof v.value === 'string',
    )
  )
}

/**
 * The secrets context's published client, for the adapters: it reads a deployment's values by the
 * grant the deploy saga was given (`evt.secret.granted`), as the calling service — `deps.peer('secrets')`
 * in a context (the same process, or CONTEXT_URLS with SERVICE_CREDENTIAL), `remotePeer(…)` elsewhere.
 * The credential needs `secrets:deliver`. Each read is an `evt.secret.accessed` there. A grant that
 * expired or is not the tenant's is a NotFoundError; the secrets context out of reach, an
 * UnavailableError. Values stay in memory: the caller writes them where they go and forgets them.
 */
export function createSecretsClient(peer: PeerCall): SecretsClient {
  return {
    async grantValues(orgId, grantId) {
      const response = await peer({
        method: 'GET',
        path: `/v1/secrets/grants/${encodeURIComponent(grantId)}/values`,
        headers: { [orgHeader]: orgId },
      })
      const body = peerAnswer<unknown>(response, 'secrets')
      if (!isGrantValues(body))
        throw new UnavailableError(
          "the secrets service answered something that is not a grant's values: is its address the secrets context's?",
        )
      return body
    },
  }
}
