import { type ContextDb, NotFoundError, type Transaction } from '@rxt/kit'

export type ProjectRow = {
  id: string
  org_id: string
  slug: string
  name: string
  repository: string | null
  repository_verified_at: Date | null
  default_branch: string
  deploy_branches: string[]
  webhook_generation: number
  deploy_tags: boolean
  report_branch_deletions: boolean
  ci: { workflow: string; image: string } | null
  created_by: string
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
}

export type EnvironmentRow = {
  id: string
  project_id: string
  name: string
  type: string
  promotion_order: number
  overrides: Record<string, unknown>
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
}

const projectColumns =
  'id, org_id, slug, name, repository, repository_verified_at, default_branch, deploy_branches, webhook_generation, deploy_tags, report_branch_deletions, ci, created_by, created_at, updated_at, deleted_at'
const environmentColumns =
  'id, project_id, name, type, promotion_order, overrides, created_at, updated_at, deleted_at'

/** The registry's SQL, on its own schema only; every call runs in a tenant's transaction. */
export function createRegistryStore() {
  const one = <T>(rows: T[]): T => rows[0] as T
  /** The row an UPDATE returned; none when a concurrent delete won: the resource is gone. */
  const updatedRow = <T>(rows: T[], what: string): T => {
    const row = rows[0]
    if (row === undefined) throw new NotFoundError(`${what} was deleted meanwhile`)
    return row
  }
  return {
    async insertProject(
      tx: Transaction,
      p: {
        id: string
        orgId: string
        slug: string
        name: string
        repository: string | null
        defaultBranch: string
        deployBranches: string[]
        deployTags: boolean
        reportBranchDeletions: boolean
        ci: { workflow: string; image: string } | null
        createdBy: string
      },
    ): Promise<ProjectRow> {
      const { rows } = await tx.query<ProjectRow>(
        `INSERT INTO projects (id, org_id, slug, name, repository, default_branch, deploy_branches,
                               deploy_tags, report_branch_deletions, created_by, ci)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $10, $8, $11) RETURNING ${projectColumns}`,
        [
          p.id,
          p.orgId,
          p.slug,
          p.name,
          p.repository,
          p.defaultBranch,
          p.deployBranches,
          p.createdBy,
          p.deployTags,
          p.reportBranchDeletions,
          p.ci === null ? null : JSON.stringify(p.ci),
        ],
      )
      return one(rows)
    },

    async project(tx: Transaction, id: string): Promise<ProjectRow | undefined> {
      return (await tx.query<ProjectRow>(`SELECT ${projectColumns} FROM projects WHERE id = $1`, [id]))
        .rows[0]
    },

    async projects(tx: Transaction, includeDeleted: boolean): Promise<ProjectRow[]> {
      return (
        await tx.query<ProjectRow>(
          `SELECT ${projectColumns} FROM projects ${includeDeleted ? '' : 'WHERE deleted_at IS NULL'} ORDER BY slug, created_at`,
        )
      ).rows
    },

    async updateProject(
      tx: Transaction,
      id: string,
      patch: {
        slug?: string
        name?: string
        repository?: string | null
        defaultBranch?: string
        deployBranches?: readonly string[]
        deployTags?: boolean
        reportBranchDeletions?: boolean
        ci?: { workflow: string; image: string } | null
      },
    ): Promise<ProjectRow> {
      const { rows } = await tx.query<ProjectRow>(
        `UPDATE projects SET
           slug = coalesce($2, slug), name = coalesce($3, name),
           repository = CASE WHEN $4::boolean THEN $5 ELSE repository END,
           -- Another repository is another claim: unverified until its webhook's ping reaches vcs.
           repository_verified_at = CASE WHEN $4::boolean AND lower($5) IS DISTINCT FROM lower(repository)
                                         THEN NULL ELSE repository_verified_at END,
           default_branch = coalesce($6, default_branch), deploy_branches = coalesce($7, deploy_branches),
           deploy_tags = coalesce($8, deploy_tags),
           report_branch_deletions = coalesce($9, report_branch_deletions),
           ci = CASE WHEN $10::boolean THEN $11::jsonb ELSE ci END,
           updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL RETURNING ${projectColumns}`,
        [
          id,
          patch.slug ?? null,
          patch.name ?? null,
          patch.repository !== undefined,
          patch.repository ?? null,
          patch.defaultBranch ?? null,
          patch.deployBranches === undefined ? null : [...patch.deployBranches],
          patch.deployTags ?? null,
          patch.reportBranchDeletions ?? null,
          patch.ci !== undefined,
          patch.ci == null ? null : JSON.stringify(patch.ci),
        ],
      )
      return updatedRow(rows, `project ${id}`)
    },

    /** Marks the project and its live environments deleted at one instant; returns those environments. */
    async softDelete(tx: Transaction, orgId: string, projectId: string, at: Date): Promise<string[]> {
      await tx.query('UPDATE projects SET deleted_at = $2 WHERE id = $1', [projectId, at])
      const { rows } = await tx.query<{ id: string }>(
        'UPDATE environments SET deleted_at = $2 WHERE project_id = $1 AND deleted_at IS NULL RETURNING id',
        [projectId, at],
      )
      await tx.query("INSERT INTO tombstones (id, kind, org_id, deleted_at) VALUES ($1, 'project', $2, $3)", [
        projectId,
        orgId,
        at,
      ])
      return rows.map((r) => r.id)
    },

    /** Brings back the project and the environments deleted with it (not those deleted before). */
    async restore(tx: Transaction, projectId: string, deletedAt: Date): Promise<string[]> {
      await tx.query('UPDATE projects SET deleted_at = NULL, updated_at = now() WHERE id = $1', [projectId])
      const { rows } = await tx.query<{ id: string }>(
        'UPDATE environments SET deleted_at = NULL WHERE project_id = $1 AND deleted_at = $2 RETURNING id',
        [projectId, deletedAt],
      )
      await tx.query('DELETE FROM tombstones WHERE id = $1', [projectId])
      return rows.map((r) => r.id)
    },

    async insertEnvironment(
      tx: Transaction,
      e: {
        id: string
        orgId: string
        projectId: string
        name: string
        type: string
        promotionOrder: number
        overrides: Record<string, unknown>
      },
    ): Promise<EnvironmentRow> {
      const { rows } = await tx.query<EnvironmentRow>(
        `INSERT INTO environments (id, org_id, project_id, name, type, promotion_order, overrides)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${environmentColumns}`,
        [e.id, e.orgId, e.projectId, e.name, e.type, e.promotionOrder, JSON.stringify(e.overrides)],
      )
      return one(rows)
    },

    async nextPromotionOrder(tx: Transaction, projectId: string): Promise<number> {
      const { rows } = await tx.query<{ next: number }>(
        'SELECT coalesce(max(promotion_order) + 1, 0)::int AS next FROM environments WHERE project_id = $1 AND deleted_at IS NULL',
        [projectId],
      )
      return one(rows).next
    },

    async environment(tx: Transaction, id: string): Promise<EnvironmentRow | undefined> {
      return (
        await tx.query<EnvironmentRow>(`SELECT ${environmentColumns} FROM environments WHERE id = $1`, [id])
      ).rows[0]
    },

    async environmentByName(
      tx: Transaction,
      projectId: string,
      name: string,
    ): Promise<EnvironmentRow | undefined> {
      return (
        await tx.query<EnvironmentRow>(
          `SELECT ${environmentColumns} FROM environments WHERE project_id = $1 AND name = $2 AND deleted_at IS NULL`,
          [projectId, name],
        )
      ).rows[0]
    },

    async environments(tx: Transaction, projectId: string): Promise<EnvironmentRow[]> {
      return (
        await tx.query<EnvironmentRow>(
          `SELECT ${environmentColumns} FROM environments WHERE project_id = $1 AND deleted_at IS NULL ORDER BY promotion_order, name`,
          [projectId],
        )
      ).rows
    },

    async updateEnvironment(
      tx: Transaction,
      id: string,
      patch: { type?: string; promotionOrder?: number; overrides?: Record<string, unknown> },
    ): Promise<EnvironmentRow> {
      const { rows } = await tx.query<EnvironmentRow>(
        `UPDATE environments SET type = coalesce($2, type), promotion_order = coalesce($3, promotion_order),
           overrides = coalesce($4::jsonb, overrides), updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL RETURNING ${environmentColumns}`,
        [
          id,
          patch.type ?? null,
          patch.promotionOrder ?? null,
          patch.overrides === undefined ? null : JSON.stringify(patch.overrides),
        ],
      )
      return updatedRow(rows, `environment ${id}`)
    },

    /** The next webhook generation: the secret of the previous one stops verifying. */
    async rotateWebhook(tx: Transaction, projectId: string): Promise<ProjectRow> {
      const { rows } = await tx.query<ProjectRow>(
        `UPDATE projects SET webhook_generation = webhook_generation + 1, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL RETURNING ${projectColumns}`,
        [projectId],
      )
      return updatedRow(rows, `project ${projectId}`)
    },

    async deleteEnvironment(tx: Transaction, orgId: string, id: string, at: Date): Promise<void> {
      await tx.query('UPDATE environments SET deleted_at = $2 WHERE id = $1', [id, at])
      await tx.query(
        "INSERT INTO tombstones (id, kind, org_id, deleted_at) VALUES ($1, 'environment', $2, $3)",
        [id, orgId, at],
      )
    },

    /** True when this digest is new to the organisation. */
    async insertManifest(
      tx: Transaction,
      m: { orgId: string; digest: string; canonical: string; apiVersion: string },
    ): Promise<boolean> {
      const { rowCount } = await tx.query(
        `INSERT INTO manifests (org_id, digest, canonical, api_version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, digest) DO NOTHING`,
        [m.orgId, m.digest, m.canonical, m.apiVersion],
      )
      return (rowCount ?? 0) > 0
    },

    async manifest(tx: Transaction, digest: string) {
      return (
        await tx.query<{ canonical: string; created_at: Date }>(
          'SELECT canonical, created_at FROM manifests WHERE digest = $1',
          [digest],
        )
      ).rows[0]
    },

    async insertHistory(
      tx: Transaction,
      h: {
        id: string
        orgId: string
        projectId: string
        environmentId: string | null
        digest: string
        commitSha: string | null
        recordedBy: string
      },
    ): Promise<void> {
      await tx.query(
        `INSERT INTO manifest_history (id, org_id, project_id, environment_id, digest, commit_sha, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [h.id, h.orgId, h.projectId, h.environmentId, h.digest, h.commitSha, h.recordedBy],
      )
    },

    async history(tx: Transaction, projectId: string, environment?: string) {
      return (
        await tx.query<{
          digest: string
          environment: string | null
          commit_sha: string | null
          recorded_by: string
          recorded_at: Date
        }>(
          `SELECT h.digest, e.name AS environment, h.commit_sha, h.recorded_by, h.recorded_at
             FROM manifest_history h LEFT JOIN environments e ON e.id = h.environment_id
            WHERE h.project_id = $1 AND ($2::text IS NULL OR e.name = $2)
            ORDER BY h.recorded_at DESC, h.id DESC LIMIT 1000`,
          [projectId, environment ?? null],
        )
      ).rows
    },

    async orgsWithTombstonesBefore(db: ContextDb, cutoff: Date): Promise<string[]> {
      const { rows } = await db.query<{ org_id: string }>(
        'SELECT DISTINCT org_id FROM tombstones WHERE deleted_at < $1',
        [cutoff],
      )
      return rows.map((r) => r.org_id)
    },

    /**
     * Deletes what the organisation deleted before `cutoff` (projects with their environments and
     * history, environments with theirs), then the manifests nothing refers to any more.
     */
    async purge(tx: Transaction, orgId: string, cutoff: Date): Promise<number> {
      const { rows } = await tx.query<{ id: string; kind: string }>(
        'DELETE FROM tombstones WHERE org_id = $1 AND deleted_at < $2 RETURNING id, kind',
        [orgId, cutoff],
      )
      const of = (kind: string) => rows.filter((r) => r.kind === kind).map((r) => r.id)
      if (rows.length === 0) return 0
      await tx.query('DELETE FROM projects WHERE id = ANY($1::uuid[])', [of('project')])
      await tx.query('DELETE FROM environments WHERE id = ANY($1::uuid[])', [of('environment')])
      await tx.query(
        'DELETE FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM manifest_history h WHERE h.org_id = m.org_id AND h.digest = m.digest)',
      )
      return rows.length
    },
  }
}
