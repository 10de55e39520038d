import { NotFoundError, type Queryable, UnavailableError } from '@rxt/kit'
import type { ValueBinding } from './domain/envelope.ts'
import type { SecretStore } from './secret-store.ts'
import { createVaultKv, type VaultKv } from './vault.ts'

export interface VaultStoreOptions {
  readonly addr: string
  /** The context's own token: writes values and issues the tenants' read tokens (a secret). */
  readonly token: string
  readonly mount?: string
  /** How long a tenant's read token lives (it is made again before it expires). */
  readonly readTokenTtlSeconds?: number
  readonly now?: () => number
  /** Told of a destroy of pruned versions that failed after the commit (they stay in Vault, unread). */
  readonly onDestroyFailed?: (failure: {
    tenantId: string
    secretId: string
    versions: number[]
    error: unknown
  }) => void
}

/**
 * The Vault-compatible backend (ADR 0023, 3; HashiCorp Vault, OpenBao): each version's value is a KV v2
 * version of `rxt-deploy/{tenantId}/secrets/{secretId}`, and the row keeps only the KV version number.
 * Values are written with the context's token; each read goes with a short-lived token of that tenant
 * alone (a policy reading `rxt-deploy/{tenantId}/secrets/*` only), so a read for one organisation
 * cannot reach another's values whatever the row says.
 */
export function createVaultStore(options: VaultStoreOptions): SecretStore {
  const kv = createVaultKv({
    addr: options.addr,
    token: options.token,
    ...(options.mount ? { mount: options.mount } : {}),
  })
  const ttl = options.readTokenTtlSeconds ?? 300
  const now = options.now ?? Date.now
  const readers = new Map<string, { kv: VaultKv; until: number }>()
  /** The tenant's reader: its own token, made again once past two thirds of its life. */
  const readerOf = async (tenantId: string): Promise<VaultKv> => {
    const held = readers.get(tenantId)
    if (held !== undefined && held.until > now()) return held.kv
    const issued = await kv.issueToken(tenantId, ttl)
    const reader = createVaultKv({
      addr: options.addr,
      token: issued.token,
      ...(options.mount ? { mount: options.mount } : {}),
    })
    readers.set(tenantId, { kv: reader, until: now() + (ttl * 1000 * 2) / 3 })
    return reader
  }
  const versionIn = (binding: ValueBinding, held: Buffer | null): number => {
    const version = held === null ? Number.NaN : Number(held.toString('utf8'))
    if (!Number.isSafeInteger(version) || version < 1)
      throw new UnavailableError(
        `version ${binding.version} of secret ${binding.secretId} names no Vault version: it was stored by another backend; rotate the secret to store a new value`,
        { retryable: false },
      )
    return version
  }
  return {
    async put(_tx: Queryable, binding, value) {
      const version = await kv.put(binding.tenantId, binding.secretId, value)
      return Buffer.from(String(version), 'utf8')
    },
    async read(_tx, binding, held) {
      const version = versionIn(binding, held)
      try {
        return (await (await readerOf(binding.tenantId)).read(binding.tenantId, binding.secretId, version))
          .value
      } catch (error) {
        if (error instanceof NotFoundError)
          throw new UnavailableError(
            `version ${binding.version} of secret ${binding.secretId} is gone from Vault: rotate the secret to store a new value`,
            { retryable: false },
          )
        throw error
      }
    },
    async drop(tx, tenantId, secretId, versions) {
      // By the KV versions the rows name (ours and Vault's may differ after a write that rolled back).
      const kvVersions = versions.flatMap((v) => {
        const n = v.held === null ? Number.NaN : Number(v.held.toString('utf8'))
        return Number.isSafeInteger(n) && n >= 1 ? [n] : []
      })
      if (kvVersions.length === 0) return
      // Only once the rows that forget them are committed: a transaction that rolls back keeps its versions
      // readable. A destroy that fails then leaves them in Vault, named by no row (and said).
      tx.afterCommit(() => {
        kv.destroyVersions(tenantId, secretId, kvVersions).catch((error: unknown) =>
          options.onDestroyFailed?.({ tenantId, secretId, versions: kvVersions, error }),
        )
      })
    },
  }
}
