import { createHash } from 'node:crypto'
import type { CommitPushed, ImagePublished } from '@rxt/contracts'
import {
  canonical,
  canonicalManifest,
  loadManifest,
  ManifestOverride,
  manifestDigest,
} from '@rxt/contracts/manifest'
import { webhookSecret } from '@rxt/contracts/webhooks'
import {
  ConflictError,
  type ContextDeps,
  InputError,
  invalidDocument,
  NotFoundError,
  newId,
  type PublishInput,
  type Transaction,
  UnavailableError,
} from '@rxt/kit'
import { Compile } from 'typebox/compile'
import { diffManifests } from './domain/manifest-diff.ts'
import { repositoryUrl } from './domain/repository.ts'
import { createRegistryStore, type EnvironmentRow, type ProjectRow } from './store.ts'

/** How long a deleted project can be restored; then the purge removes it with everything it had. */
export const retentionDays = 30
const retentionMs = retentionDays * 86_400_000

export const EnvironmentType = ['preview', 'development', 'staging', 'production'] as const
export type EnvironmentType = (typeof EnvironmentType)[number]

export interface ProjectInput {
  readonly slug: string
  readonly name: string
  /** owner/name (the routes take its GitHub URL too); null: none. */
  readonly repository?: string | null
  readonly defaultBranch?: string
  readonly deployBranches?: readonly string[]
  /** Pushing a tag deploys (default: no). */
  readonly deployTags?: boolean
  /** A deleted branch is reported as evt.branch.deleted (default: no). */
  readonly reportBranchDeletions?: boolean
  /** The project's CI: a successful run of `workflow` built `<image>:<commit sha>`; null: none. */
  readonly ci?: { readonly workflow: string; readonly image: string } | null
}

export interface EnvironmentInput {
  readonly name: string
  readonly type: EnvironmentType
  readonly promotionOrder?: number
  readonly overrides?: Record<string, unknown>
}

const overrideValidator = Compile(ManifestOverride)

/** A project as the API shows it, but for its webhook URL (made from PUBLIC_URL). */
const projectFields = (r: ProjectRow) => ({
  id: r.id,
  slug: r.slug,
  name: r.name,
  repository: r.repository,
  repositoryUrl: r.repository === null ? null : repositoryUrl(r.repository),
  repositoryVerifiedAt: r.repository_verified_at?.toISOString() ?? null,
  defaultBranch: r.default_branch,
  deployBranches: r.deploy_branches,
  webhookGeneration: r.webhook_generation,
  deployTags: r.deploy_tags,
  reportBranchDeletions: r.report_branch_deletions,
  ci: r.ci,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  deletedAt: r.deleted_at?.toISOString() ?? null,
})

/** Where a deploy trigger publishes: a handler's context. */
interface DeployContext {
  readonly tx: Transaction
  publish: (m: PublishInput) => Promise<unknown>
}

/** The image a manifest names (spec.image), if any: an environment's own manifest names its own. */
const fixedImage = (canonicalJson: string): string | undefined =>
  (JSON.parse(canonicalJson) as { spec?: { image?: string } }).spec?.image

/** An environment as evt.project.updated shows it: its overrides, and their digest. */
const environmentSummary = (r: EnvironmentRow) => ({
  id: r.id,
  name: r.name,
  type: r.type,
  promotionOrder: r.promotion_order,
  overridesDigest: `sha256:${createHash('sha256').update(canonical(r.overrides)).digest('hex')}`,
  overrides: canonical(r.overrides),
})

const environmentView = (r: EnvironmentRow) => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name,
  type: r.type,
  promotionOrder: r.promotion_order,
  overrides: r.overrides,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
})

/** A deploy.yaml that does not load: 422 with every problem, its path, line and column. */
function manifestOf(yaml: string) {
  const loaded = loadManifest(yaml)
  if (!loaded.ok) throw invalidDocument('the manifest', loaded.violations)
  return { manifest: loaded.manifest, digest: manifestDigest(loaded.manifest) }
}

/** The most an environment's overrides may hold, in canonical JSON: what evt.project.updated carries. */
export const maxOverridesBytes = 65_536

function checkOverrides(overrides: unknown): void {
  if (overrideValidator.Check(overrides)) {
    const size = Buffer.byteLength(canonical(overrides))
    if (size <= maxOverridesBytes) return
    throw new InputError(
      `the overrides take ${size} bytes as canonical JSON; at most ${maxOverridesBytes} are kept (move large values into secrets or the manifest)`,
      [{ path: '/overrides', message: `must take at most ${maxOverridesBytes} bytes as canonical JSON` }],
      { unprocessable: true },
    )
  }
  const errors = [...overrideValidator.Errors(overrides)]
  throw new InputError(
    'the overrides are not valid deploy.yaml environment overrides',
    errors.slice(0, 20).map((e) => ({ path: `/overrides${e.instancePath}`, message: e.message })),
    { unprocessable: true },
  )
}

/**
 * The project registry: projects, their environments, and the manifests they were given, stored once
 * per digest. Every call acts in one organisation (`orgId`, admitted by the guard) and under its
 * row-level security.
 */
export interface RegistryConfig {
  readonly WEBHOOK_KEY?: string | undefined
  readonly PUBLIC_URL: string
}

export function createRegistry(deps: ContextDeps<RegistryConfig>) {
  const { db, bus, clock } = deps
  const webhooks = `${deps.config.PUBLIC_URL.replace(/\/+$/, '')}/v1/webhooks/github`
  /** The project's own webhook URL: a delivery there is checked with this project's secret alone (ADR 0016). */
  const webhookUrl = (projectId: string) => `${webhooks}/${projectId}`
  /** The project's webhook: where GitHub sends, and the secret it signs with (shown once). */
  const webhookOf = (project: ProjectRow) => {
    const key = deps.config.WEBHOOK_KEY
    if (key === undefined) throw new UnavailableError('WEBHOOK_KEY is not set: no webhook secret can be made')
    return { url: webhookUrl(project.id), secret: webhookSecret(key, project.id, project.webhook_generation) }
  }
  const projectView = (r: ProjectRow) => ({ ...projectFields(r), webhookUrl: webhookUrl(r.id) })
  const store = createRegistryStore()

  const liveProject = async (tx: Transaction, projectId: string): Promise<ProjectRow> => {
    const project = await store.project(tx, projectId)
    if (project === undefined || project.deleted_at !== null)
      throw new NotFoundError(`no project ${projectId}`)
    return project
  }
  const liveEnvironment = async (tx: Transaction, projectId: string, envId: string) => {
    const env = await store.environment(tx, envId)
    if (env === undefined || env.project_id !== projectId || env.deleted_at !== null)
      throw new NotFoundError(`no environment ${envId} in project ${projectId}`)
    return env
  }
  /**
   * A commit of `branch` is ready to deploy: when the branch is one of the project's deploy branches,
   * each of its environments with a manifest of its own (not preview environments) is sent
   * cmd.deploy.apply with that manifest, its stored overrides, and the artifact `artifactOf` names
   * for it (none: that environment is not deployed). A push (`fixed`) deploys only projects that name
   * no CI workflow.
   */
  const deployBranch = async (
    ctx: DeployContext,
    orgId: string,
    projectId: string,
    branch: string,
    commitSha: string,
    artifactOf: (manifest: string, environment: string) => string | undefined,
    source: 'image' | 'fixed',
  ): Promise<number> => {
    const { tx } = ctx
    await tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [orgId])
    const project = await store.project(tx, projectId)
    if (project === undefined || project.deleted_at !== null) return 0
    if (!project.deploy_branches.includes(branch)) return 0
    // A project built by CI deploys its images, not the pushes before them.
    if (source === 'fixed' && project.ci !== null) return 0
    let sent = 0
    for (const env of await store.environments(tx, project.id)) {
      if (env.type === 'preview') continue
      const [latest] = await store.history(tx, project.id, env.name)
      if (latest === undefined) continue
      const manifest = await store.manifest(tx, latest.digest)
      if (manifest === undefined) continue
      const artifactRef = artifactOf(manifest.canonical, env.name)
      if (artifactRef === undefined) continue
      await ctx.publish({
        type: 'cmd.deploy.apply',
        tenantId: orgId,
        key: env.id,
        data: {
          envId: env.id,
          projectId: project.id,
          environment: env.name,
          commitSha,
          artifactRef,
          manifest: manifest.canonical,
          manifestDigest: latest.digest,
          overrides: canonical(env.overrides),
        },
      })
      sent++
    }
    return sent
  }
  /** evt.project.updated: the changed fields, each as it was and as it is. */
  const updated = (
    tx: Transaction,
    orgId: string,
    projectId: string,
    actor: string,
    change: { before: Record<string, unknown>; after: Record<string, unknown>; envIds?: string[] },
  ) =>
    bus.publish(tx, {
      type: 'evt.project.updated',
      tenantId: orgId,
      data: {
        projectId,
        changed: Object.keys(change.after),
        envIds: change.envIds ?? [],
        before: change.before,
        after: change.after,
        updatedBy: actor,
      },
    })
  /** An environment change: the environments as they were and are (null where absent). */
  const environmentsChanged = (
    tx: Transaction,
    orgId: string,
    projectId: string,
    actor: string,
    before: EnvironmentRow | null,
    after: EnvironmentRow | null,
  ) =>
    updated(tx, orgId, projectId, actor, {
      before: { environments: [before === null ? null : environmentSummary(before)] },
      after: { environments: [after === null ? null : environmentSummary(after)] },
      envIds: [(after ?? before)?.id as string],
    })
  const uniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505'

  return {
    async createProject(actor: string, orgId: string, input: ProjectInput) {
      const id = newId()
      const defaultBranch = input.defaultBranch ?? 'main'
      try {
        return await db.withTenant(orgId, async (tx) => {
          const row = await store.insertProject(tx, {
            id,
            orgId,
            slug: input.slug,
            name: input.name,
            repository: input.repository ?? null,
            defaultBranch,
            deployBranches: [...(input.deployBranches ?? [defaultBranch])],
            deployTags: input.deployTags ?? false,
            reportBranchDeletions: input.reportBranchDeletions ?? false,
            ci: input.ci ?? null,
            createdBy: actor,
          })
          await bus.publish(tx, {
            type: 'evt.project.created',
            tenantId: orgId,
            data: {
              projectId: id,
              slug: input.slug,
              name: input.name,
              repo: input.repository ?? null,
              createdBy: actor,
              deployBranches: row.deploy_branches,
              webhookGeneration: row.webhook_generation,
              deployTags: row.deploy_tags,
              reportBranchDeletions: row.report_branch_deletions,
              ci: row.ci,
            },
          })
          return { ...projectView(row), webhook: webhookOf(row) }
        })
      } catch (error) {
        if (uniqueViolation(error))
          throw new ConflictError(`a project ${input.slug} exists in this organisation`)
        throw error
      }
    },

    async projects(orgId: string, includeDeleted = false) {
      return db.withTenant(orgId, async (tx) => (await store.projects(tx, includeDeleted)).map(projectView))
    },

    async project(orgId: string, projectId: string) {
      return db.withTenant(orgId, async (tx) => projectView(await liveProject(tx, projectId)))
    },

    async updateProject(actor: string, orgId: string, projectId: string, patch: Partial<ProjectInput>) {
      try {
        return await db.withTenant(orgId, async (tx) => {
          const before = await liveProject(tx, projectId)
          const row = await store.updateProject(tx, projectId, patch)
          const [was, is] = [projectView(before), projectView(row)]
          const changed = (Object.keys(patch) as (keyof ProjectInput)[]).filter(
            (k) => JSON.stringify(was[k]) !== JSON.stringify(is[k]),
          )
          if (changed.length > 0)
            await updated(tx, orgId, projectId, actor, {
              before: Object.fromEntries(changed.map((k) => [k, was[k]])),
              after: Object.fromEntries(changed.map((k) => [k, is[k]])),
            })
          return projectView(row)
        })
      } catch (error) {
        if (uniqueViolation(error))
          throw new ConflictError(`a project ${patch.slug} exists in this organisation`)
        throw error
      }
    },

    /** A new webhook secret (shown once); the previous one stops verifying at once. */
    async rotateWebhook(actor: string, orgId: string, projectId: string) {
      return db.withTenant(orgId, async (tx) => {
        const before = await liveProject(tx, projectId)
        const row = await store.rotateWebhook(tx, projectId)
        await updated(tx, orgId, projectId, actor, {
          before: { webhookGeneration: before.webhook_generation },
          after: { webhookGeneration: row.webhook_generation },
        })
        return webhookOf(row)
      })
    },

    /** Soft delete: the project and its environments are hidden, restorable for 30 days, then purged. */
    async deleteProject(actor: string, orgId: string, projectId: string) {
      await db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        const at = clock.now()
        const envIds = await store.softDelete(tx, orgId, projectId, at)
        await updated(tx, orgId, projectId, actor, {
          before: { deletedAt: null },
          after: { deletedAt: at.toISOString() },
          envIds,
        })
      })
    },

    async restoreProject(actor: string, orgId: string, projectId: string) {
      try {
        return await db.withTenant(orgId, async (tx) => {
          const project = await store.project(tx, projectId)
          if (project === undefined) throw new NotFoundError(`no project ${projectId}`)
          if (project.deleted_at === null) throw new ConflictError(`project ${projectId} is not deleted`)
          if (clock.now().getTime() - project.deleted_at.getTime() > retentionMs)
            throw new NotFoundError(`project ${projectId} was deleted more than ${retentionDays} days ago`)
          const envIds = await store.restore(tx, projectId, project.deleted_at)
          await updated(tx, orgId, projectId, actor, {
            before: { deletedAt: (project.deleted_at as Date).toISOString() },
            after: { deletedAt: null },
            envIds,
          })
          return projectView(await liveProject(tx, projectId))
        })
      } catch (error) {
        if (uniqueViolation(error))
          throw new ConflictError('another project took its slug meanwhile; rename that one first')
        throw error
      }
    },

    async createEnvironment(actor: string, orgId: string, projectId: string, input: EnvironmentInput) {
      checkOverrides(input.overrides ?? {})
      try {
        return await db.withTenant(orgId, async (tx) => {
          await liveProject(tx, projectId)
          const row = await store.insertEnvironment(tx, {
            id: newId(),
            orgId,
            projectId,
            name: input.name,
            type: input.type,
            promotionOrder: input.promotionOrder ?? (await store.nextPromotionOrder(tx, projectId)),
            overrides: input.overrides ?? {},
          })
          await environmentsChanged(tx, orgId, projectId, actor, null, row)
          return environmentView(row)
        })
      } catch (error) {
        if (uniqueViolation(error))
          throw new ConflictError(`an environment ${input.name} exists in project ${projectId}`)
        throw error
      }
    },

    async environments(orgId: string, projectId: string) {
      return db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        return (await store.environments(tx, projectId)).map(environmentView)
      })
    },

    async environment(orgId: string, projectId: string, envId: string) {
      return db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        return environmentView(await liveEnvironment(tx, projectId, envId))
      })
    },

    async updateEnvironment(
      actor: string,
      orgId: string,
      projectId: string,
      envId: string,
      patch: Partial<Omit<EnvironmentInput, 'name'>>,
    ) {
      if (patch.overrides !== undefined) checkOverrides(patch.overrides)
      return db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        const before = await liveEnvironment(tx, projectId, envId)
        const row = await store.updateEnvironment(tx, envId, patch)
        await environmentsChanged(tx, orgId, projectId, actor, before, row)
        return environmentView(row)
      })
    },

    async deleteEnvironment(actor: string, orgId: string, projectId: string, envId: string) {
      await db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        const before = await liveEnvironment(tx, projectId, envId)
        await store.deleteEnvironment(tx, orgId, envId, clock.now())
        await environmentsChanged(tx, orgId, projectId, actor, before, null)
      })
    },

    /** No side effects: the manifest with its defaults, and its digest; 422 with every problem. */
    validate(yaml: string) {
      return manifestOf(yaml)
    },

    /** Stores a manifest once per digest, and records it in the project's (or environment's) history. */
    async recordManifest(
      actor: string,
      orgId: string,
      projectId: string,
      input: { yaml: string; environment?: string; commitSha?: string },
    ) {
      const { manifest, digest } = manifestOf(input.yaml)
      return db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        let envId: string | null = null
        if (input.environment !== undefined) {
          const env = await store.environmentByName(tx, projectId, input.environment)
          if (env === undefined)
            throw new NotFoundError(`no environment ${input.environment} in project ${projectId}`)
          envId = env.id
        }
        const created = await store.insertManifest(tx, {
          orgId,
          digest,
          canonical: canonicalManifest(manifest),
          apiVersion: manifest.apiVersion,
        })
        await store.insertHistory(tx, {
          id: newId(),
          orgId,
          projectId,
          environmentId: envId,
          digest,
          commitSha: input.commitSha ?? null,
          recordedBy: actor,
        })
        // The environment's manifest now: what the orchestrator's next deploy of it uses.
        if (envId !== null && input.environment !== undefined)
          await bus.publish(tx, {
            type: 'evt.manifest.recorded',
            tenantId: orgId,
            key: envId,
            data: {
              projectId,
              envId,
              environment: input.environment,
              manifest: canonicalManifest(manifest),
              manifestDigest: digest,
              commitSha: input.commitSha ?? null,
              recordedBy: actor,
            },
          })
        return { digest, created, manifest }
      })
    },

    /**
     * A webhook ping signed with the project's secret reached vcs: the repository it names is wired to
     * this project, if that is still the project's repository (a ping of one it named before proves
     * nothing of the one it names now).
     */
    async repositoryVerified(tx: Transaction, orgId: string, projectId: string, repo: string): Promise<void> {
      await tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [orgId])
      await tx.query(
        'UPDATE projects SET repository_verified_at = now() WHERE id = $1 AND lower(repository) = lower($2)',
        [projectId, repo],
      )
    },

    /**
     * CI published an image of a commit (evt.image.published): on a deploy branch, each of the
     * project's environments with a manifest of its own (not preview environments: pull requests, later)
     * is sent cmd.deploy.apply with that manifest and its stored overrides. A branch that is not a deploy
     * branch, an unknown commit, or a project gone deploys nothing.
     */
    async imagePublished(ctx: DeployContext, orgId: string, event: ImagePublished): Promise<number> {
      if (event.commitSha === null || event.branch === null) return 0
      const commitSha = event.commitSha
      return deployBranch(ctx, orgId, event.projectId, event.branch, commitSha, () => event.image, 'image')
    },

    /**
     * A push to a deploy branch of a project that builds no image (no CI settings) deploys the image its
     * environments' manifests name (spec.image); an environment
     * whose manifest names none deploys nothing. A project with CI deploys when its image is published.
     */
    async commitPushed(ctx: DeployContext, orgId: string, event: CommitPushed): Promise<number> {
      if (event.projectId === undefined || !event.ref.startsWith('refs/heads/')) return 0
      const branch = event.ref.slice('refs/heads/'.length)
      return deployBranch(ctx, orgId, event.projectId, branch, event.commitSha, fixedImage, 'fixed')
    },

    async manifest(orgId: string, digest: string) {
      return db.withTenant(orgId, async (tx) => {
        const row = await store.manifest(tx, digest)
        if (row === undefined) throw new NotFoundError(`no manifest ${digest}`)
        return {
          digest,
          manifest: JSON.parse(row.canonical) as unknown,
          createdAt: row.created_at.toISOString(),
        }
      })
    },

    async diff(orgId: string, from: string, to: string) {
      return db.withTenant(orgId, async (tx) => {
        const [a, b] = [await store.manifest(tx, from), await store.manifest(tx, to)]
        if (a === undefined) throw new NotFoundError(`no manifest ${from}`)
        if (b === undefined) throw new NotFoundError(`no manifest ${to}`)
        return { from, to, changes: diffManifests(JSON.parse(a.canonical), JSON.parse(b.canonical)) }
      })
    },

    async history(orgId: string, projectId: string, environment?: string) {
      return db.withTenant(orgId, async (tx) => {
        await liveProject(tx, projectId)
        return (await store.history(tx, projectId, environment)).map((h) => ({
          digest: h.digest,
          environment: h.environment,
          commitSha: h.commit_sha,
          recordedBy: h.recorded_by,
          recordedAt: h.recorded_at.toISOString(),
        }))
      })
    },

    /**
     * Removes projects deleted more than 30 days ago, with their environments and history, and the
     * manifests nothing refers to any more; organisation by organisation, under its row-level security.
     */
    async purge(): Promise<number> {
      const cutoff = new Date(clock.now().getTime() - retentionMs)
      let purged = 0
      for (const orgId of await store.orgsWithTombstonesBefore(db, cutoff)) {
        purged += await db.withTenant(orgId, (tx) => store.purge(tx, orgId, cutoff))
      }
      return purged
    },
  }
}
export type Registry = ReturnType<typeof createRegistry>
