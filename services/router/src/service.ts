import { readFile } from 'node:fs/promises'
import type { ProjectUpdated } from '@rxt/contracts'
import { canonical, loadManifest, type ManifestOverride, manifestDigest } from '@rxt/contracts/manifest'
import {
  type ContextDeps,
  InputError,
  invalidDocument,
  NotFoundError,
  type Queryable,
  type Transaction,
  UnavailableError,
} from '@rxt/kit'
import {
  defaultProviderFiles,
  loadProviderManifest,
  overridesFrom,
  planRenderers,
  rendererFor,
} from '@rxt/platform-sdk'
import { buildPlan } from './domain/plan.ts'
import { planProblems, previewPlan } from './domain/preview.ts'
import { createRouting } from './routing.ts'
import {
  createEnvironmentStore,
  createRouterStore,
  type EnvironmentRow,
  type ProviderRow,
  type StoredHealth,
} from './store.ts'

export interface RouterConfig {
  /** provider.yaml files, comma-separated; empty: the defaults the build's adapters contribute. */
  readonly PROVIDER_FILES: string
}

/** Which environment a preview is for: a name (the manifest's overrides), or a project's environment. */
export interface EnvironmentChoice {
  /** The environment's name; with envId, its name is the environment's own. */
  readonly environment?: string
  /** A project's environment in the registry: its name and stored overrides apply, and its real ids. */
  readonly envId?: string
}

/** Who asks: operators see and change every provider; tenants see the enabled ones. */
export interface Viewer {
  readonly operator: boolean
  readonly actor: string
}

/** A provider's health now: its last report, unless there is none or it is three intervals old. */
export function healthOf(row: Pick<ProviderRow, 'health'>, now: Date) {
  const h = row.health
  if (h === null) return { healthy: false, checkedAt: null, message: 'no adapter has reported on it yet' }
  if (now.getTime() - Date.parse(h.checkedAt) > 3 * h.intervalMs)
    return { healthy: false, checkedAt: h.checkedAt, message: `no health report since ${h.checkedAt}` }
  return { healthy: h.healthy, checkedAt: h.checkedAt, message: h.message }
}

const providerView = (row: ProviderRow, now: Date) => ({
  name: row.name,
  displayName: row.manifest.metadata.displayName,
  version: row.manifest.metadata.version,
  simulated: row.manifest.metadata.simulated,
  compute: row.manifest.spec.capabilities.compute,
  enabled: row.enabled,
  note: row.note,
  health: healthOf(row, now),
  changedAt: row.changed_at.toISOString(),
})

/** A deploy.yaml that does not load: 422 with every problem, its path, line and column. */
function manifestOf(yaml: string) {
  const loaded = loadManifest(yaml)
  if (!loaded.ok) throw invalidDocument('the manifest', loaded.violations)
  return loaded.manifest
}

/**
 * The provider router: the providers (from their provider.yaml files, enabled or disabled by
 * operators while the process runs), the platform for a manifest with the reason, and what it
 * would create there.
 */
export function createRouter(deps: ContextDeps<RouterConfig>) {
  const store = createRouterStore(deps.db)

  const visible = async (viewer: Viewer, name: string): Promise<ProviderRow> => {
    const row = await store.one(name)
    if (row === undefined || (!row.enabled && !viewer.operator))
      throw new NotFoundError(`no provider ${name}`)
    return row
  }
  // Read at every plan, so a provider disabled a moment ago gets no new work, on any instance.
  const routing = createRouting(
    async (tx, name) => {
      const row = await createRouterStore(tx).one(name)
      return row === undefined ? undefined : { manifest: row.manifest, enabled: row.enabled }
    },
    async (tx, envId) => (await createEnvironmentStore(tx).one(envId))?.overrides,
  )
  const renderers = deps.extensions(planRenderers)

  /** The environment a request names, with the overrides that apply to it, in the tenant's data. */
  const environmentOf = async (
    tenantId: string | undefined,
    choice: EnvironmentChoice,
  ): Promise<{ name: string; envId?: string; projectId?: string; overrides: ManifestOverride }> => {
    if (choice.envId === undefined) return { name: choice.environment ?? '', overrides: {} }
    const envId = choice.envId
    if (tenantId === undefined) throw new NotFoundError(`no environment ${envId}`)
    const row: EnvironmentRow | undefined = await deps.db.withTenant(tenantId, (tx) =>
      createEnvironmentStore(tx).one(envId),
    )
    if (row === undefined) throw new NotFoundError(`no environment ${envId}`)
    if (choice.environment !== undefined && choice.environment !== row.name)
      throw new InputError(`environment ${envId} is named ${row.name}, not ${choice.environment}`, [
        { path: '/environment', message: `must be ${row.name}, the name of environment ${envId}, or absent` },
      ])
    return { name: row.name, envId: row.env_id, projectId: row.project_id, overrides: row.overrides }
  }

  /** evt.provider.changed: a provider as the router holds it now, news for placement. */
  const announce = (tx: Transaction, row: ProviderRow) =>
    deps.bus.publish(tx, {
      type: 'evt.provider.changed',
      tenantId: null,
      key: row.name,
      data: {
        provider: row.name,
        manifest: canonical(row.manifest),
        enabled: row.enabled,
        note: row.note,
        changedBy: row.changed_by,
        changedAt: deps.clock.now().toISOString(),
      },
    })

  return {
    routing,

    /** Loads every provider.yaml; a file that does not load stops the start, saying where. */
    async load(): Promise<number> {
      const configured = deps.config.PROVIDER_FILES.split(',')
        .map((f) => f.trim())
        .filter((f) => f !== '')
      const files = configured.length > 0 ? configured : [...deps.extensions(defaultProviderFiles)]
      const names: string[] = []
      for (const file of files) {
        const loaded = loadProviderManifest(await readFile(file, 'utf8'))
        if (!loaded.ok) {
          const where = loaded.violations
            .map((v) => `${file}:${v.line ?? 1}:${v.column ?? 1} ${v.path || '/'} ${v.message}`)
            .join('; ')
          throw new InputError(`a provider.yaml is not valid: ${where}`)
        }
        names.push(loaded.value.metadata.name)
        // Loaded and told in one transaction: placement hears of every provider at every start.
        await deps.db.transaction(async (tx) => {
          await createRouterStore(tx).upsert(loaded.value, file)
          const row = await createRouterStore(tx).one(loaded.value.metadata.name)
          if (row !== undefined) await announce(tx, row)
        })
      }
      // A provider whose file is no longer configured is no longer offered; placement is told it
      // takes no work (disabled), so that it is recommended no more.
      const gone = (await store.all()).filter((row) => !names.includes(row.name))
      const removed = await deps.db.transaction(async (tx) => {
        for (const row of gone)
          await announce(tx, {
            ...row,
            enabled: false,
            note: 'removed: its provider.yaml is no longer configured',
            changed_by: null,
          })
        return createRouterStore(tx).removeAllBut(names)
      })
      if (removed.length > 0)
        deps.log.warn({ providers: removed }, 'providers no longer configured were removed')
      return files.length
    },

    /** evt.project.updated: the environments it tells of, with their stored overrides, kept for plans. */
    async projectUpdated(tx: Transaction, tenantId: string, event: ProjectUpdated): Promise<void> {
      const after = event.after.environments
      if (after === undefined) return
      await tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])
      const store = createEnvironmentStore(tx)
      for (const [i, envId] of event.envIds.entries()) {
        const env = after[i]
        if (env === undefined) continue
        if (env === null) await store.remove(envId)
        else
          await store.put(tenantId, {
            env_id: env.id,
            project_id: event.projectId,
            name: env.name,
            overrides: overridesFrom(env.overrides) ?? {},
          })
      }
    },

    /** Keeps an adapter's health report. */
    async healthReported(tx: Queryable, report: StoredHealth & { provider: string }): Promise<void> {
      const { provider, ...health } = report
      await createRouterStore(tx).setHealth(provider, health)
    },

    async providers(viewer: Viewer) {
      return (await store.all())
        .filter((r) => r.enabled || viewer.operator)
        .map((r) => providerView(r, deps.clock.now()))
    },

    async capabilities(viewer: Viewer, name: string) {
      const row = await visible(viewer, name)
      return { name: row.name, ...row.manifest.spec }
    },

    async health(viewer: Viewer, name: string) {
      return healthOf(await visible(viewer, name), deps.clock.now())
    },

    /** Enables or disables a provider at once: a disabled one gets no new work; work under way goes on. */
    async change(viewer: Viewer, name: string, patch: { enabled: boolean; note?: string }) {
      const row = await deps.db.transaction(async (tx) => {
        const changed = await createRouterStore(tx).setEnabled(
          name,
          patch.enabled,
          patch.note ?? null,
          viewer.actor,
        )
        if (changed !== undefined) await announce(tx, changed)
        return changed
      })
      if (row === undefined) throw new NotFoundError(`no provider ${name}`)
      deps.log.info({ provider: name, enabled: patch.enabled, by: viewer.actor }, 'provider changed')
      return providerView(row, deps.clock.now())
    },

    /**
     * What deploy.yaml becomes on the provider named (placement chooses: POST /v1/placement/recommend):
     * its plan, and the objects the provider's adapter would apply of it, rendered by that adapter's
     * own renderer.
     */
    async translate(
      viewer: Viewer,
      input: EnvironmentChoice & { yaml: string; provider?: string; artifactRef?: string },
      target: { tenantId: string },
    ) {
      const manifest = manifestOf(input.yaml)
      if (input.environment === undefined && input.envId === undefined)
        throw new InputError('name the environment to preview for: environment (a name) or envId', [
          { path: '/environment', message: 'environment or envId is required' },
        ])
      const env = await environmentOf(target.tenantId, input)
      const name = input.provider
      if (name === undefined)
        throw new InputError(
          'name the provider to translate for; the router chooses none: ask POST /v1/placement/recommend for one',
          [
            {
              path: '/provider',
              message: 'provider is required (POST /v1/placement/recommend recommends one)',
            },
          ],
          { unprocessable: true },
        )
      const provider = (await visible(viewer, name)).manifest
      const plan = buildPlan({
        manifest,
        manifestDigest: manifestDigest(manifest),
        overrides: env.overrides,
        target: {
          tenantId: target.tenantId,
          projectId: env.projectId ?? manifest.metadata.name,
          envId: env.envId ?? `${manifest.metadata.name}-${env.name}`,
          environment: env.name,
          deploymentId: 'preview',
        },
        provider,
        ...(input.artifactRef === undefined ? {} : { artifactRef: input.artifactRef }),
      })
      const problems = planProblems(plan)
      if (problems.length > 0)
        throw new InputError(
          `the deployment does not fit what ${provider.metadata.name} takes: ${problems.join('; ')}`,
          [],
          { unprocessable: true },
        )
      const renderer = rendererFor(renderers, plan.platform)
      if (renderer === undefined)
        throw new UnavailableError(`no adapter of this build renders ${plan.platform} plans`)
      return previewPlan(plan, renderer, { provider, manifest, overrides: env.overrides })
    },
  }
}
export type Router = ReturnType<typeof createRouter>
