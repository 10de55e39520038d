import type { ManifestOverride } from '@rxt/contracts/manifest'
import type { Queryable } from '@rxt/kit'
import type { ProviderManifest } from '@rxt/platform-sdk'
import type { PriceQuote } from './domain/cost.ts'

/** A provider as placement heard of it: from the router, its adapter and its price feed. */
export type ProviderRow = {
  name: string
  manifest: ProviderManifest | null
  enabled: boolean
  note: string | null
  health: StoredHealth | null
  prices: PriceQuote | null
}

/** The last evt.provider.health of a provider. */
export type StoredHealth = {
  healthy: boolean
  checkedAt: string
  message: string
  latencyMs: number
  intervalMs: number
}

/** Platform-level: the providers' news (no tenant's data). */
export function createProviderStore(db: Queryable) {
  return {
    async all(): Promise<ProviderRow[]> {
      return (
        await db.query<ProviderRow>(
          'SELECT name, manifest, enabled, note, health, prices FROM providers ORDER BY name',
        )
      ).rows
    },
    async changed(row: {
      name: string
      manifest: ProviderManifest
      enabled: boolean
      note: string | null
      changedBy: string | null
      changedAt: string
    }): Promise<void> {
      // News out of order: an older change than the one kept is ignored.
      await db.query(
        `INSERT INTO providers (name, manifest, enabled, note, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name) DO UPDATE SET manifest = excluded.manifest, enabled = excluded.enabled,
           note = excluded.note, changed_by = excluded.changed_by, changed_at = excluded.changed_at
         WHERE providers.changed_at IS NULL OR providers.changed_at <= excluded.changed_at`,
        [row.name, JSON.stringify(row.manifest), row.enabled, row.note, row.changedBy, row.changedAt],
      )
    },
    async health(name: string, health: StoredHealth): Promise<void> {
      await db.query(
        `INSERT INTO providers (name, health) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET health = excluded.health
         WHERE providers.health IS NULL OR (providers.health->>'checkedAt')::timestamptz <= $3::timestamptz`,
        [name, JSON.stringify(health), health.checkedAt],
      )
    },
    async prices(name: string, quote: PriceQuote): Promise<void> {
      await db.query(
        `INSERT INTO providers (name, prices) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET prices = excluded.prices
         WHERE providers.prices IS NULL OR (providers.prices->>'quotedAt')::timestamptz <= $3::timestamptz`,
        [name, JSON.stringify(quote), quote.quotedAt],
      )
    },
  }
}

export type EnvironmentRow = { env_id: string; project_id: string; name: string; overrides: ManifestOverride }

export type PinRow = { env_id: string; provider: string; reason: string; pinned_by: string; pinned_at: Date }

export type DecisionRow = {
  id: string
  env_id: string | null
  deployment_id: string | null
  manifest_digest: string
  overrides_digest: string
  providers_fingerprint: string
  decision: Record<string, unknown>
  created_at: Date
  used_at: Date
}

const decisionColumns =
  'id, env_id, deployment_id, manifest_digest, overrides_digest, providers_fingerprint, decision, created_at, used_at'

/** A tenant's data, in a transaction that set rxt.tenant_id (row-level security). */
export function createTenantStore(tx: Queryable) {
  return {
    async environment(envId: string): Promise<EnvironmentRow | undefined> {
      return (
        await tx.query<EnvironmentRow>(
          'SELECT env_id, project_id, name, overrides FROM environments WHERE env_id = $1',
          [envId],
        )
      ).rows[0]
    },
    async putEnvironment(tenantId: string, row: EnvironmentRow): Promise<void> {
      await tx.query(
        `INSERT INTO environments (env_id, tenant_id, project_id, name, overrides) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (env_id) DO UPDATE SET name = excluded.name, overrides = excluded.overrides, updated_at = now()`,
        [row.env_id, tenantId, row.project_id, row.name, JSON.stringify(row.overrides)],
      )
    },
    async removeEnvironment(envId: string): Promise<void> {
      await tx.query('DELETE FROM environments WHERE env_id = $1', [envId])
    },
    async putManifest(tenantId: string, digest: string, manifest: string): Promise<void> {
      await tx.query(
        'INSERT INTO manifests (tenant_id, digest, manifest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [tenantId, digest, manifest],
      )
    },
    async manifest(digest: string): Promise<string | undefined> {
      return (
        await tx.query<{ manifest: string }>('SELECT manifest FROM manifests WHERE digest = $1', [digest])
      ).rows[0]?.manifest
    },
    async pin(envId: string): Promise<PinRow | undefined> {
      return (
        await tx.query<PinRow>(
          'SELECT env_id, provider, reason, pinned_by, pinned_at FROM pins WHERE env_id = $1',
          [envId],
        )
      ).rows[0]
    },
    async setPin(
      tenantId: string,
      envId: string,
      pin: { provider: string; reason: string; by: string } | null,
      reason: string,
      by: string,
    ): Promise<void> {
      if (pin === null) await tx.query('DELETE FROM pins WHERE env_id = $1', [envId])
      else
        await tx.query(
          `INSERT INTO pins (env_id, tenant_id, provider, reason, pinned_by) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (env_id) DO UPDATE SET provider = excluded.provider, reason = excluded.reason,
             pinned_by = excluded.pinned_by, pinned_at = now()`,
          [envId, tenantId, pin.provider, pin.reason, pin.by],
        )
      await tx.query(
        'INSERT INTO pin_history (tenant_id, env_id, provider, reason, changed_by) VALUES ($1, $2, $3, $4, $5)',
        [tenantId, envId, pin?.provider ?? null, reason, by],
      )
    },
    /** The decision made of the same inputs, if any: reused as it is. */
    async reusable(key: {
      envId: string | null
      manifestDigest: string
      overridesDigest: string
      fingerprint: string
    }): Promise<DecisionRow | undefined> {
      return (
        await tx.query<DecisionRow>(
          `SELECT ${decisionColumns} FROM decisions
            WHERE env_id IS NOT DISTINCT FROM $1 AND manifest_digest = $2 AND overrides_digest = $3
              AND providers_fingerprint = $4
            ORDER BY created_at DESC LIMIT 1`,
          [key.envId, key.manifestDigest, key.overridesDigest, key.fingerprint],
        )
      ).rows[0]
    },
    async putDecision(tenantId: string, row: Omit<DecisionRow, 'created_at' | 'used_at'>): Promise<void> {
      await tx.query(
        `INSERT INTO decisions (id, tenant_id, env_id, deployment_id, manifest_digest, overrides_digest, providers_fingerprint, decision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          row.id,
          tenantId,
          row.env_id,
          row.deployment_id,
          row.manifest_digest,
          row.overrides_digest,
          row.providers_fingerprint,
          JSON.stringify(row.decision),
        ],
      )
    },
    /** A deployment used a stored decision again. */
    async used(id: string, deploymentId: string | null): Promise<void> {
      await tx.query(
        'UPDATE decisions SET used_at = now(), deployment_id = coalesce($2, deployment_id) WHERE id = $1',
        [id, deploymentId],
      )
    },
    /** The decision an environment's last deploy used; else the last one made for it. */
    async lastOf(envId: string): Promise<DecisionRow | undefined> {
      return (
        await tx.query<DecisionRow>(
          `SELECT ${decisionColumns} FROM decisions WHERE env_id = $1
            ORDER BY (deployment_id IS NOT NULL) DESC, used_at DESC, created_at DESC LIMIT 1`,
          [envId],
        )
      ).rows[0]
    },
  }
}
