import type { ManifestOverride } from '@rxt/contracts/manifest'
import type { Queryable } from '@rxt/kit'
import type { ProviderManifest } from '@rxt/platform-sdk'

export type ProviderRow = {
  name: string
  manifest: ProviderManifest
  source: string
  enabled: boolean
  note: string | null
  changed_by: string | null
  health: StoredHealth | null
  changed_at: Date
}

/** The last evt.provider.health of a provider. */
export type StoredHealth = {
  healthy: boolean
  checkedAt: string
  message: string
  latencyMs: number
  intervalMs: number
}

const columns = 'name, manifest, source, enabled, note, changed_by, health, changed_at'

/** The router's SQL, on its own schema only. */
export function createRouterStore(db: Queryable) {
  return {
    /** A provider.yaml loaded at start: its manifest replaced; what operators decided kept. */
    async upsert(manifest: ProviderManifest, source: string): Promise<void> {
      await db.query(
        `INSERT INTO providers (name, manifest, source) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET manifest = excluded.manifest, source = excluded.source, loaded_at = now()`,
        [manifest.metadata.name, JSON.stringify(manifest), source],
      )
    },
    /** Removes every provider but these; returns the names removed. */
    async removeAllBut(names: readonly string[]): Promise<string[]> {
      const { rows } = await db.query<{ name: string }>(
        'DELETE FROM providers WHERE NOT (name = ANY($1::text[])) RETURNING name',
        [[...names]],
      )
      return rows.map((r) => r.name)
    },
    async all(): Promise<ProviderRow[]> {
      return (await db.query<ProviderRow>(`SELECT ${columns} FROM providers ORDER BY name`)).rows
    },
    async one(name: string): Promise<ProviderRow | undefined> {
      return (await db.query<ProviderRow>(`SELECT ${columns} FROM providers WHERE name = $1`, [name])).rows[0]
    },
    /** A health report, unless an older one than what is kept (reports may arrive out of order). */
    async setHealth(name: string, health: StoredHealth): Promise<void> {
      await db.query(
        `UPDATE providers SET health = $2
          WHERE name = $1 AND (health IS NULL OR (health->>'checkedAt')::timestamptz <= $3::timestamptz)`,
        [name, JSON.stringify(health), health.checkedAt],
      )
    },
    async setEnabled(name: string, enabled: boolean, note: string | null, actor: string) {
      return (
        await db.query<ProviderRow>(
          `UPDATE providers SET enabled = $2, note = $3, changed_by = $4, changed_at = now()
            WHERE name = $1 RETURNING ${columns}`,
          [name, enabled, note, actor],
        )
      ).rows[0]
    },
  }
}
export type RouterStore = ReturnType<typeof createRouterStore>

/** An environment of the registry as the router knows it: what its plans need. */
export type EnvironmentRow = {
  env_id: string
  project_id: string
  name: string
  overrides: ManifestOverride
}

/** The environments the registry's events told of, in a tenant's transaction (row-level security). */
export function createEnvironmentStore(tx: Queryable) {
  return {
    async one(envId: string): Promise<EnvironmentRow | undefined> {
      return (
        await tx.query<EnvironmentRow>(
          'SELECT env_id, project_id, name, overrides FROM environments WHERE env_id = $1',
          [envId],
        )
      ).rows[0]
    },
    async put(tenantId: string, row: EnvironmentRow): Promise<void> {
      await tx.query(
        `INSERT INTO environments (env_id, tenant_id, project_id, name, overrides) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (env_id) DO UPDATE SET name = excluded.name, overrides = excluded.overrides, updated_at = now()`,
        [row.env_id, tenantId, row.project_id, row.name, JSON.stringify(row.overrides)],
      )
    },
    async remove(envId: string): Promise<void> {
      await tx.query('DELETE FROM environments WHERE env_id = $1', [envId])
    },
  }
}
