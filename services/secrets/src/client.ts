import {
  AuthenticationError,
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
} from '@rxt/kit'

/**
 * The secrets context's published HTTP client, for the platform's other contexts (the adapters): read
 * a deployment's grant with a service credential holding `secrets:deliver`. Values stay in memory;
 * the caller writes them where they go and forgets them.
 */

export interface GrantValues {
  readonly deploymentId: string
  readonly envId: string
  readonly expiresAt: string
  readonly values: readonly { readonly ref: string; readonly version: number; readonly value: string }[]
}

export interface SecretsClientOptions {
  /** Where a process running the secrets context answers (`http://secrets:8080`). */
  readonly baseUrl: string
  /** The service credential: sent as `Authorization: Service <credential>`. */
  readonly credential: string
  readonly fetch?: typeof fetch
  readonly timeoutMs?: number
}

export interface SecretsClient {
  /** A live grant's values. NotFoundError when it is unknown, expired or another organisation's. */
  grantValues(orgId: string, grantId: string): Promise<GrantValues>
}

/** A problem document's detail, else the status: what the error says (never a body we did not expect). */
const detailOf = async (response: Response): Promise<string> => {
  const problem = (await response.json().catch(() => undefined)) as { detail?: unknown } | undefined
  return typeof problem?.detail === 'string' ? problem.detail : `HTTP ${response.status}`
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

export function createSecretsClient(options: SecretsClientOptions): SecretsClient {
  const base = options.baseUrl.replace(/\/+$/, '')
  const send = options.fetch ?? fetch
  return {
    async grantValues(orgId, grantId) {
      const url = `${base}/v1/secrets/grants/${encodeURIComponent(grantId)}/values`
      let response: Response
      try {
        response = await send(url, {
          headers: {
            authorization: `Service ${options.credential}`,
            'x-rxt-org': orgId,
            accept: 'application/json',
          },
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        })
      } catch (error) {
        throw new UnavailableError(`the secrets service at ${base} does not answer`, { cause: error })
      }
      if (response.ok) {
        const body: unknown = await response.json().catch(() => undefined)
        if (!isGrantValues(body))
          throw new UnavailableError(
            `the secrets service at ${base} answered something that is not a grant's values: is the URL the secrets context's address?`,
          )
        return body
      }
      const detail = await detailOf(response)
      const status = response.status
      if (status === 404) throw new NotFoundError(detail)
      if (status === 401) throw new AuthenticationError(detail)
      if (status === 403) throw new NotAllowedError(detail)
      if (status === 409) throw new ConflictError(detail)
      if (status === 400 || status === 422) throw new InputError(detail)
      throw new UnavailableError(`the secrets service at ${base} answered ${status}: ${detail}`, {
        retryable: status >= 500 || status === 429,
      })
    },
  }
}
