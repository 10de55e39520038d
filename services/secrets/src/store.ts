import type { Queryable } from '@rxt/kit'

/** SQL on the secrets schema only; every statement runs with `rxt.tenant_id` set (row-level security). */

export interface SecretRow {
  [column: string]: unknown
  id: string
  org_id: string
  project_id: string
  env_id: string | null
  name: string
  current_version: number
  redeploy_on_rotation: boolean
  created_by: string
  created_at: Date
  updated_at: Date
}

export interface VersionRow {
  [column: string]: unknown
  version: number
  created_by: string
  created_at: Date
}

export interface GrantRow {
  [column: string]: unknown
  id: string
  org_id: string
  deployment_id: string
  project_id: string
  env_id: string
  expires_at: Date
  created_at: Date
}

const secretColumns =
  'id, org_id, project_id, env_id, name, current_version, redeploy_on_rotation, created_by, created_at, updated_at'
const grantColumns = 'id, org_id, deployment_id, project_id, env_id, expires_at, created_at'

const one = <R>(rows: readonly R[]): R => {
  const row = rows[0]
  if (row === undefined) throw new Error('the statement returned no row')
  return row
}

export function createSecretRows(tx: Queryable) {
  return {
    async secret(id: string, lock: boolean): Promise<SecretRow | undefined> {
      const { rows } = await tx.query<SecretRow>(
        `SELECT ${secretColumns} FROM secrets WHERE id = $1 AND deleted_at IS NULL${lock ? ' FOR UPDATE' : ''}`,
        [id],
      )
      return rows[0]
    },

    async liveByName(projectId: string, envId: string | null, name: string): Promise<SecretRow | undefined> {
      const { rows } = await tx.query<SecretRow>(
        `SELECT ${secretColumns} FROM secrets
          WHERE project_id = $1 AND env_id IS NOT DISTINCT FROM $2 AND name = $3 AND deleted_at IS NULL`,
        [projectId, envId, name],
      )
      return rows[0]
    },

    async live(filter: { projectId?: string; envId?: string }): Promise<SecretRow[]> {
      const { rows } = await tx.query<SecretRow>(
        `SELECT ${secretColumns} FROM secrets
          WHERE deleted_at IS NULL AND ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR env_id = $2)
          ORDER BY project_id, env_id NULLS FIRST, name`,
        [filter.projectId ?? null, filter.envId ?? null],
      )
      return rows
    },

    async insertSecret(row: {
      id: string
      org_id: string
      project_id: string
      env_id: string | null
      name: string
      redeploy_on_rotation: boolean
      created_by: string
      created_at: Date
    }): Promise<SecretRow> {
      const { rows } = await tx.query<SecretRow>(
        `INSERT INTO secrets (id, org_id, project_id, env_id, name, current_version, redeploy_on_rotation, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $8)
         RETURNING ${secretColumns}`,
        [
          row.id,
          row.org_id,
          row.project_id,
          row.env_id,
          row.name,
          row.redeploy_on_rotation,
          row.created_by,
          row.created_at,
        ],
      )
      return one(rows)
    },

    async setCurrent(id: string, version: number, at: Date): Promise<SecretRow> {
      const { rows } = await tx.query<SecretRow>(
        `UPDATE secrets SET current_version = $2, updated_at = $3 WHERE id = $1 RETURNING ${secretColumns}`,
        [id, version, at],
      )
      return one(rows)
    },

    async markDeleted(id: string, by: string, at: Date): Promise<void> {
      await tx.query('UPDATE secrets SET deleted_at = $3, deleted_by = $2, updated_at = $3 WHERE id = $1', [
        id,
        by,
        at,
      ])
    },

    async insertVersion(row: {
      secret_id: string
      org_id: string
      version: number
      sealed: Buffer | null
      created_by: string
      created_at: Date
    }): Promise<VersionRow> {
      const { rows } = await tx.query<VersionRow>(
        `INSERT INTO secret_versions (secret_id, org_id, version, sealed, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING version, created_by, created_at`,
        [row.secret_id, row.org_id, row.version, row.sealed, row.created_by, row.created_at],
      )
      return one(rows)
    },

    /** The versions kept, newest first. */
    async versions(secretId: string): Promise<VersionRow[]> {
      const { rows } = await tx.query<VersionRow>(
        'SELECT version, created_by, created_at FROM secret_versions WHERE secret_id = $1 ORDER BY version DESC',
        [secretId],
      )
      return rows
    },

    /** What the rows of these versions hold for the backend (the sealed bytes, or its own reference). */
    async held(
      secretId: string,
      versions: readonly number[],
    ): Promise<{ version: number; held: Buffer | null }[]> {
      const { rows } = await tx.query<{ version: number; sealed: Uint8Array | null }>(
        'SELECT version, sealed FROM secret_versions WHERE secret_id = $1 AND version = ANY($2::int[])',
        [secretId, versions],
      )
      return rows.map((r) => ({ version: r.version, held: r.sealed === null ? null : Buffer.from(r.sealed) }))
    },

    async dropVersions(secretId: string, versions: readonly number[]): Promise<void> {
      if (versions.length === 0) return
      await tx.query('DELETE FROM secret_versions WHERE secret_id = $1 AND version = ANY($2::int[])', [
        secretId,
        versions,
      ])
    },

    /** The live secrets of these names in the environment or the project (env_id null). */
    async resolvable(projectId: string, envId: string, names: readonly string[]): Promise<SecretRow[]> {
      const { rows } = await tx.query<SecretRow>(
        `SELECT ${secretColumns} FROM secrets
          WHERE project_id = $1 AND (env_id = $2 OR env_id IS NULL) AND name = ANY($3::text[])
            AND deleted_at IS NULL`,
        [projectId, envId, names],
      )
      return rows
    },

    /** The deployment's newest grant that is still live at `now`. */
    async liveGrant(deploymentId: string, now: Date): Promise<GrantRow | undefined> {
      const { rows } = await tx.query<GrantRow>(
        `SELECT ${grantColumns} FROM grants WHERE deployment_id = $1 AND expires_at > $2
          ORDER BY created_at DESC LIMIT 1`,
        [deploymentId, now],
      )
      return rows[0]
    },

    /** Every organisation's grants past a day after expiry, gone (the transaction is the purge's). */
    async purgeExpiredGrants(): Promise<number> {
      await tx.query("SELECT set_config('rxt.purge', 'expired-grants', true)")
      const { rowCount } = await tx.query('DELETE FROM grants WHERE expires_at < now()')
      return rowCount
    },

    async grant(id: string): Promise<GrantRow | undefined> {
      const { rows } = await tx.query<GrantRow>(`SELECT ${grantColumns} FROM grants WHERE id = $1`, [id])
      return rows[0]
    },

    async insertGrant(row: GrantRow): Promise<GrantRow> {
      const { rows } = await tx.query<GrantRow>(
        `INSERT INTO grants (id, org_id, deployment_id, project_id, env_id, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${grantColumns}`,
        [row.id, row.org_id, row.deployment_id, row.project_id, row.env_id, row.expires_at, row.created_at],
      )
      return one(rows)
    },

    async insertGrantSecrets(
      rows: readonly { grant_id: string; org_id: string; secret_id: string; ref: string; version: number }[],
    ): Promise<void> {
      if (rows.length === 0) return
      await tx.query(
        `INSERT INTO grant_secrets (grant_id, org_id, secret_id, ref, version)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[])`,
        [
          rows.map((r) => r.grant_id),
          rows.map((r) => r.org_id),
          rows.map((r) => r.secret_id),
          rows.map((r) => r.ref),
          rows.map((r) => r.version),
        ],
      )
    },

    /** What a grant pinned, with the scope of each secret, in the order of its references. */
    async grantSecrets(grantId: string) {
      const { rows } = await tx.query<{
        ref: string
        secret_id: string
        version: number
        env_id: string | null
      }>(
        `SELECT g.ref, g.secret_id, g.version, s.env_id
           FROM grant_secrets g JOIN secrets s ON s.id = g.secret_id
          WHERE g.grant_id = $1 ORDER BY g.ref`,
        [grantId],
      )
      return rows
    },

    /** What a grant pinned, with what each version's row holds (null `kept`: the version is gone). */
    async grantValues(grantId: string) {
      const { rows } = await tx.query<{
        ref: string
        secret_id: string
        version: number
        deleted_at: Date | null
        kept: boolean
        sealed: Uint8Array | null
      }>(
        `SELECT g.ref, g.secret_id, g.version, s.deleted_at, v.version IS NOT NULL AS kept, v.sealed
           FROM grant_secrets g
           JOIN secrets s ON s.id = g.secret_id
           LEFT JOIN secret_versions v ON v.secret_id = g.secret_id AND v.version = g.version
          WHERE g.grant_id = $1 ORDER BY g.ref`,
        [grantId],
      )
      return rows.map((r) => ({ ...r, sealed: r.sealed === null ? null : Buffer.from(r.sealed) }))
    },

    /** Per environment, the version of the secret its newest grant pinned. */
    async latestGrantVersions(secretId: string) {
      const { rows } = await tx.query<{ env_id: string; version: number }>(
        `SELECT DISTINCT ON (gr.env_id) gr.env_id, g.version
           FROM grant_secrets g JOIN grants gr ON gr.id = g.grant_id
          WHERE g.secret_id = $1
          ORDER BY gr.env_id, gr.created_at DESC`,
        [secretId],
      )
      return rows
    },
  }
}
