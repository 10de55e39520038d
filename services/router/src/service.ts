import { readFile } from 'node:fs/promises'
import { loadManifest } from '@rxt/contracts/manifest'
import { type ContextDeps, InputError, invalidDocument, NotFoundError, type Queryable } from '@rxt/kit'
import { loadProviderManifest } from '@rxt/platform-sdk'
import { type ProviderView, selectPlatform } from './domain/select-platform.ts'
import { applyEnvironment, translate } from './domain/translate.ts'
import { createRouting } from './routing.ts'
import { createRouterStore, type ProviderRow, type StoredHealth } from './store.ts'

export interface RouterConfig {
  /** provider.yaml files, comma-separated. */
  readonly PROVIDER_FILES: string
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
  // Read at every decision, so a provider disabled a moment ago gets no new work, on any instance.
  // Tenants never see a disabled provider, not even as a candidate; operators see why it was skipped.
  const views = async (viewer: Viewer, q: Queryable = deps.db): Promise<ProviderView[]> =>
    (await createRouterStore(q).all())
      .filter((row) => row.enabled || viewer.operator)
      .map((row) => ({
        manifest: row.manifest,
        enabled: row.enabled,
        health: healthOf(row, deps.clock.now()),
      }))

  // Work is routed as a tenant would see the providers: enabled ones only.
  const routing = createRouting((tx) => views({ operator: false, actor: 'service:router' }, tx))

  return {
    routing,

    /** Loads every provider.yaml; a file that does not load stops the start, saying where. */
    async load(): Promise<number> {
      const files = deps.config.PROVIDER_FILES.split(',')
        .map((f) => f.trim())
        .filter((f) => f !== '')
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
        await store.upsert(loaded.value, file)
      }
      // A provider whose file is no longer configured is no longer offered.
      const removed = await store.removeAllBut(names)
      if (removed.length > 0)
        deps.log.warn({ providers: removed }, 'providers no longer configured were removed')
      return files.length
    },

    /** The objects of a bundle a command named, in the organisation's own bundles. */
    async bundle(orgId: string, digest: string) {
      return deps.db.withTenant(orgId, async (tx) => {
        const { rows } = await tx.query<{ objects: Record<string, unknown>[] }>(
          'SELECT objects FROM bundles WHERE digest = $1',
          [digest],
        )
        const row = rows[0]
        if (row === undefined) throw new NotFoundError(`no bundle ${digest}`)
        return { digest, objects: row.objects }
      })
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
      const row = await store.setEnabled(name, patch.enabled, patch.note ?? null, viewer.actor)
      if (row === undefined) throw new NotFoundError(`no provider ${name}`)
      deps.log.info({ provider: name, enabled: patch.enabled, by: viewer.actor }, 'provider changed')
      return providerView(row, deps.clock.now())
    },

    /** The platform for a manifest (as one environment's overrides make it, when named), and why. */
    async select(viewer: Viewer, yaml: string, environment?: string) {
      const manifest = manifestOf(yaml)
      return selectPlatform(
        environment === undefined ? manifest : applyEnvironment(manifest, environment),
        await views(viewer),
      )
    },

    /** What deploy.yaml becomes on a provider (the one selection picks, unless named). */
    async translate(
      viewer: Viewer,
      input: { yaml: string; environment: string; provider?: string },
      target: { tenantId: string },
    ) {
      const manifest = manifestOf(input.yaml)
      let name = input.provider
      let selection: ReturnType<typeof selectPlatform> | undefined
      if (name === undefined) {
        selection = selectPlatform(applyEnvironment(manifest, input.environment), await views(viewer))
        if (!selection.ok) throw new InputError(selection.reason, [], { unprocessable: true })
        name = selection.provider
      }
      const provider = await visible(viewer, name)
      return {
        ...translate(manifest, provider.manifest, {
          tenantId: target.tenantId,
          projectId: manifest.metadata.name,
          envId: `${manifest.metadata.name}-${input.environment}`,
          environment: input.environment,
        }),
        ...(selection === undefined ? {} : { selection }),
      }
    },
  }
}
export type Router = ReturnType<typeof createRouter>
