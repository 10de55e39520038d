// A client of a Vault-compatible KV v2 store (HashiCorp Vault, OpenBao): the tenants' secret values
// under `{prefix}/{tenantId}/secrets/{name}`, and short-lived tokens that can read one tenant's values
// only. Plain HTTP against the documented API (https://developer.hashicorp.com/vault/api-docs): KV v2
// (`/v1/{mount}/data|metadata/…`), ACL policies (`/v1/sys/policies/acl/…`) and token creation
// (`/v1/auth/token/create`). No token, value or response body ever reaches an error message.
import {
  AuthenticationError,
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
} from '@rxt/kit'

export interface VaultKvOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8200`. */
  readonly addr: string
  /** The token the calls are made with (a secret: never logged). */
  readonly token: string
  /** The KV v2 mount. */
  readonly mount?: string
  /** The path under the mount that holds every tenant's values. */
  readonly prefix?: string
  /** How long one call may take, in milliseconds. */
  readonly timeoutMs?: number
}

export interface VaultSecret {
  readonly value: string
  readonly version: number
}

export interface TenantToken {
  /** The token itself: a secret, to be handed to the one workload it is for and never logged. */
  readonly token: string
  /** Its accessor: names the token (to look it up or revoke it) without being able to use it. */
  readonly accessor: string
  /** The policy it carries: read of its tenant's values only. */
  readonly policy: string
  readonly expiresAt: Date
}

export interface VaultKv {
  /** Writes a new version of a secret; returns its version number. */
  put(tenantId: string, name: string, value: string): Promise<number>
  /** One version of a secret (the latest when `version` is left out). */
  read(tenantId: string, name: string, version?: number): Promise<VaultSecret>
  /** Removes a secret for good: every version and its metadata. */
  destroy(tenantId: string, name: string): Promise<void>
  /** Destroys these versions of a secret for good (their data; the metadata stays). */
  destroyVersions(tenantId: string, name: string, versions: readonly number[]): Promise<void>
  /**
   * A child token of this client's token that may read this tenant's values and nothing else, for
   * `ttlSeconds`, not renewable. Creates (or updates) the tenant's ACL policy first.
   */
  issueToken(tenantId: string, ttlSeconds: number): Promise<TenantToken>
}

/** Tenant ids as the kit makes them (UUIDs) and as tests name them: no path or glob characters. */
const tenantPattern = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/
/** The path of a `secret://` reference: lower-case segments, none empty, none starting with a dot. */
const namePattern = /^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)*$/
const segmentPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*(?:\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/
/** Vault's own bound: tokens of a day at most here; the workloads' tokens live minutes. */
const maxTtlSeconds = 86_400

function checkTenant(tenantId: string): void {
  if (!tenantPattern.test(tenantId))
    throw new InputError('the tenant id is not valid for a secret path', [
      {
        path: '/tenantId',
        message: 'letters, digits and dashes, at most 64, starting with a letter or digit',
      },
    ])
}

function checkName(name: string): void {
  if (name.length > 200 || !namePattern.test(name))
    throw new InputError('the secret name is not valid', [
      {
        path: '/name',
        message:
          'lower-case letters, digits, ".", "_", "-" in "/"-separated segments, each starting with a letter or digit; at most 200 characters',
      },
    ])
}

interface Answer {
  readonly status: number
  readonly body: unknown
}

export function createVaultKv(options: VaultKvOptions): VaultKv {
  const { token, mount = 'secret', prefix = 'rxt-deploy', timeoutMs = 10_000 } = options
  const addr = options.addr.replace(/\/+$/, '')
  if (!/^https?:\/\/[^/]+$/.test(addr))
    throw new InputError('the Vault address must be an http(s) URL with no path', [
      { path: '/addr', message: 'e.g. http://127.0.0.1:8200' },
    ])
  if (token === '') throw new InputError('a Vault token is required', [{ path: '/token', message: 'empty' }])
  for (const [key, value] of [
    ['mount', mount],
    ['prefix', prefix],
  ] as const)
    if (!segmentPattern.test(value))
      throw new InputError(`the KV ${key} is not a valid path`, [
        { path: `/${key}`, message: 'letters, digits, ".", "_", "-" in "/"-separated segments' },
      ])

  const secretPath = (tenantId: string, name: string) => {
    checkTenant(tenantId)
    checkName(name)
    return `${prefix}/${tenantId}/secrets/${name}`
  }

  /** Vault's answer, or a kit error that says what was refused (never with what). */
  async function call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    what: string,
    body?: unknown,
  ): Promise<Answer> {
    let response: Response
    try {
      response = await fetch(`${addr}/v1/${path}`, {
        method,
        headers: {
          'X-Vault-Token': token,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (error) {
      throw new UnavailableError(`Vault at ${addr} did not answer to ${what}`, {
        cause: new Error((error as Error).name),
      })
    }
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (response.ok) return { status: response.status, body: parsed }
    // Vault's error strings name no secret; they say whether the token itself was refused.
    const errors = ((parsed as { errors?: unknown } | undefined)?.errors ?? []) as unknown[]
    const said = errors.filter((e): e is string => typeof e === 'string').join('; ')
    switch (response.status) {
      case 400:
        throw new InputError(`Vault refused ${what} as malformed`, [
          { path: '', message: said.slice(0, 200) },
        ])
      case 401:
        throw new AuthenticationError(`Vault did not accept the token for ${what}`)
      case 403:
        if (/invalid token|token is expired|token not found/i.test(said))
          throw new AuthenticationError(
            `Vault did not accept the token for ${what} (expired, revoked or unknown): issue a new one`,
          )
        throw new NotAllowedError(`the token may not ${what}`)
      case 404:
        throw new NotFoundError(`nothing to ${what}`)
      case 409:
      case 412:
        throw new ConflictError(`Vault refused ${what}: ${said.slice(0, 200) || 'conflict'}`)
      case 429:
      case 503:
        throw new UnavailableError(
          `Vault cannot ${what} now (${response.status}${said === 'Vault is sealed' ? ', sealed' : ''})`,
        )
      default:
        if (response.status >= 500) throw new UnavailableError(`Vault failed to ${what} (${response.status})`)
        throw new UnavailableError(`Vault answered ${response.status} to ${what}`, { retryable: false })
    }
  }

  const policyName = (tenantId: string) => `${prefix.replaceAll('/', '-')}-tenant-${tenantId}`

  return {
    async put(tenantId, name, value) {
      const path = secretPath(tenantId, name)
      if (typeof value !== 'string')
        throw new InputError('a secret value is a string', [{ path: '/value', message: 'not a string' }])
      const answer = await call('POST', `${mount}/data/${path}`, `write the secret ${path}`, {
        data: { value },
      })
      const version = (answer.body as { data?: { version?: unknown } } | undefined)?.data?.version
      if (typeof version !== 'number') throw new UnavailableError(`Vault gave no version for ${path}`)
      return version
    },

    async read(tenantId, name, version) {
      const path = secretPath(tenantId, name)
      if (version !== undefined && (!Number.isSafeInteger(version) || version < 1))
        throw new InputError('a secret version is a whole number from 1', [
          { path: '/version', message: String(version) },
        ])
      const what = `read the secret ${path}${version === undefined ? '' : ` version ${version}`}`
      const answer = await call(
        'GET',
        `${mount}/data/${path}${version === undefined ? '' : `?version=${version}`}`,
        what,
      )
      const data = (
        answer.body as
          | { data?: { data?: { value?: unknown } | null; metadata?: { version?: unknown } } }
          | undefined
      )?.data
      const value = data?.data?.value
      const got = data?.metadata?.version
      if (typeof value !== 'string' || typeof got !== 'number')
        throw new NotFoundError(`nothing to ${what} (deleted or not written by RXT Deploy)`)
      return { value, version: got }
    },

    async destroy(tenantId, name) {
      const path = secretPath(tenantId, name)
      await call('DELETE', `${mount}/metadata/${path}`, `destroy the secret ${path}`)
    },

    async destroyVersions(tenantId, name, versions) {
      const path = secretPath(tenantId, name)
      if (versions.length === 0) return
      await call('POST', `${mount}/destroy/${path}`, `destroy versions of the secret ${path}`, { versions })
    },

    async issueToken(tenantId, ttlSeconds) {
      checkTenant(tenantId)
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > maxTtlSeconds)
        throw new InputError('a token lives from 1 second to a day', [
          { path: '/ttlSeconds', message: String(ttlSeconds) },
        ])
      const policy = policyName(tenantId)
      await call('PUT', `sys/policies/acl/${policy}`, `write the policy ${policy}`, {
        policy: `path "${mount}/data/${prefix}/${tenantId}/secrets/*" {\n  capabilities = ["read"]\n}\n`,
      })
      const issued = Date.now()
      const answer = await call('POST', 'auth/token/create', `create a token for tenant ${tenantId}`, {
        policies: [policy],
        no_default_policy: true,
        renewable: false,
        ttl: `${ttlSeconds}s`,
        explicit_max_ttl: `${ttlSeconds}s`,
        display_name: `rxt-tenant-${tenantId}`,
        meta: { tenant: tenantId },
      })
      const auth = (
        answer.body as { auth?: { client_token?: unknown; accessor?: unknown; lease_duration?: unknown } }
      )?.auth
      if (typeof auth?.client_token !== 'string' || typeof auth.accessor !== 'string')
        throw new UnavailableError(`Vault created no token for tenant ${tenantId}`)
      const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : ttlSeconds
      return {
        token: auth.client_token,
        accessor: auth.accessor,
        policy,
        expiresAt: new Date(issued + lease * 1000),
      }
    },
  }
}
