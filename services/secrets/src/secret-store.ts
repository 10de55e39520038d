import { type ContextDb, type Queryable, type Transaction, UnavailableError } from '@rxt/kit'
import {
  type Kek,
  newDataKey,
  openValue,
  rewrapDataKey,
  SealBrokenError,
  sealValue,
  unwrapDataKey,
  type ValueBinding,
} from './domain/envelope.ts'

/**
 * Where secret values are kept, behind what routes and grants see: the version rows (metadata) are the
 * context's; a backend keeps the values. The built-in one seals them into the version rows with the
 * tenant's data key; a Vault KV v2 backend (ADR 0023, 3; vault-store.ts) keeps them under
 * `rxt-deploy/{tenantId}/secrets/` and hold nothing in the row.
 *
 * Every call runs in the caller's transaction, with `rxt.tenant_id` set to the binding's tenant.
 */
export interface SecretStore {
  /** Keeps a version's value; resolves to what its version row holds (the sealed bytes, or null). */
  put(tx: Queryable, binding: ValueBinding, value: string): Promise<Buffer | null>
  /** A version's value, from what its row holds. UnavailableError when it does not open. */
  read(tx: Queryable, binding: ValueBinding, held: Buffer | null): Promise<string>
  /**
   * Forgets the values of these versions of a secret (pruned by rotation, or the secret deleted): in the
   * transaction, or once it has committed for a backend outside the database (a rollback keeps them).
   */
  drop(
    tx: Transaction,
    tenantId: string,
    secretId: string,
    versions: readonly { readonly version: number; readonly held: Buffer | null }[],
  ): Promise<void>
}

/** A version whose stored value does not open, said without the value or the key. */
const broken = (binding: ValueBinding, cause: unknown) =>
  new UnavailableError(
    `version ${binding.version} of secret ${binding.secretId} could not be decrypted: its stored ciphertext or the organisation's data key does not belong to it (altered or moved), or SECRETS_KEY is not the key it was sealed under; rotate the secret to store a new value`,
    { cause, retryable: false },
  )

/**
 * The built-in store: AES-256-GCM under a per-tenant data key wrapped by the KEK (envelope.ts). A data
 * key still wrapped by one of `previous` (SECRETS_KEY_PREVIOUS, after a KEK rotation) is re-wrapped by
 * the current KEK when it is first used, and by {@link rewrapAll}; no value is re-encrypted.
 */
export interface SealedStore extends SecretStore {
  /** The tenant's data key, unwrapped (re-wrapped first when a previous KEK wraps it). */
  dataKey(tx: Queryable, tenantId: string): Promise<Buffer>
}

export function createSealedStore(kek: Kek, previous: readonly Kek[] = []): SealedStore {
  const byId = new Map(previous.map((k) => [k.id, k]))
  /** The tenant's data key, made (and stored wrapped) on its first secret. */
  const dataKeyOf = async (tx: Queryable, tenantId: string): Promise<Buffer> => {
    const read = async () =>
      (
        await tx.query<{ kek_id: string; wrapped: Uint8Array }>(
          'SELECT kek_id, wrapped FROM data_keys WHERE org_id = $1',
          [tenantId],
        )
      ).rows[0]
    let row = await read()
    if (row === undefined) {
      const made = newDataKey(kek, tenantId)
      await tx.query(
        'INSERT INTO data_keys (org_id, kek_id, wrapped) VALUES ($1, $2, $3) ON CONFLICT (org_id) DO NOTHING',
        [tenantId, made.stored.kekId, made.stored.wrapped],
      )
      await tx.query(
        'INSERT INTO key_wrappings (org_id, kek_id) VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING',
        [tenantId, made.stored.kekId],
      )
      row = await read()
      if (row === undefined) throw new UnavailableError('the data key of the organisation was not stored')
    }
    const stored = { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped) }
    const older = byId.get(stored.kekId)
    if (stored.kekId !== kek.id && older !== undefined) {
      const rewrapped = rewrapDataKey(older, kek, tenantId, stored)
      await tx.query('UPDATE data_keys SET kek_id = $2, wrapped = $3 WHERE org_id = $1 AND kek_id = $4', [
        tenantId,
        rewrapped.kekId,
        rewrapped.wrapped,
        stored.kekId,
      ])
      await tx.query('UPDATE key_wrappings SET kek_id = $2 WHERE org_id = $1', [tenantId, rewrapped.kekId])
      return unwrapDataKey(kek, tenantId, rewrapped)
    }
    return unwrapDataKey(kek, tenantId, stored)
  }

  return {
    dataKey: (tx, tenantId) => dataKeyOf(tx, tenantId),
    async put(tx, binding, value) {
      let key: Buffer
      try {
        key = await dataKeyOf(tx, binding.tenantId)
      } catch (error) {
        if (error instanceof SealBrokenError) throw broken(binding, error)
        throw error
      }
      return sealValue(key, binding, value)
    },
    async read(tx, binding, held) {
      if (held === null) throw broken(binding, new SealBrokenError('The secret value (none stored)'))
      try {
        return openValue(await dataKeyOf(tx, binding.tenantId), binding, held)
      } catch (error) {
        if (error instanceof SealBrokenError) throw broken(binding, error)
        throw error
      }
    },
    // The sealed bytes live in the version rows, which the caller deletes: nothing else to forget.
    async drop() {},
  }
}

/**
 * KEK rotation, walked: every organisation whose data key a previous KEK wraps gets it re-wrapped by the
 * current one (each in its own transaction, as that organisation). Returns how many were re-wrapped,
 * and the organisations whose data key no configured KEK opens.
 */
export async function rewrapAll(
  db: Pick<ContextDb, 'query' | 'withTenant'>,
  store: SealedStore,
  kek: Kek,
): Promise<{ rewrapped: number; failed: string[] }> {
  const { rows } = await db.query<{ org_id: string }>('SELECT org_id FROM key_wrappings WHERE kek_id <> $1', [
    kek.id,
  ])
  let rewrapped = 0
  const failed: string[] = []
  // One organisation whose key does not open stops no other's.
  for (const { org_id } of rows) {
    try {
      await db.withTenant(org_id, (tx) => store.dataKey(tx, org_id))
      rewrapped++
    } catch {
      failed.push(org_id)
    }
  }
  return { rewrapped, failed }
}
