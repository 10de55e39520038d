import { createHash, randomUUID } from 'node:crypto'
import type {
  PlacementFailed,
  PlacementRecommend,
  PlacementRecommended,
  ProjectUpdated,
  ProviderChanged,
  ProviderPrices,
} from '@rxt/contracts'
import { canonical, loadManifest, type ManifestOverride, manifestDigest } from '@rxt/contracts/manifest'
import {
  type ContextDeps,
  type HandlerContext,
  InputError,
  invalidDocument,
  NotAllowedError,
  NotFoundError,
  type Queryable,
  type Transaction,
} from '@rxt/kit'
import { applyEnvironment, loadProviderManifest, overridesFrom } from '@rxt/platform-sdk'
import { type PriceQuote, quoteFresh } from './domain/cost.ts'
import { type Pin, type ProviderView, recommend } from './domain/recommend.ts'
import { createProviderStore, createTenantStore, type ProviderRow, type StoredHealth } from './store.ts'

/** A provider's health now: its last report, unless there is none or it is three intervals old. */
export function healthOf(health: StoredHealth | null, now: Date) {
  if (health === null)
    return { healthy: false, checkedAt: null, message: 'no adapter has reported on it yet' }
  if (now.getTime() - Date.parse(health.checkedAt) > 3 * health.intervalMs)
    return {
      healthy: false,
      checkedAt: health.checkedAt,
      message: `no health report since ${health.checkedAt}`,
    }
  return { healthy: health.healthy, checkedAt: health.checkedAt, message: health.message }
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`

/** Who asks over HTTP. */
export interface Viewer {
  readonly operator: boolean
  readonly actor: string
}

/** What one decision is asked of: the manifest, the environment and its overrides. */
interface DecisionAsk {
  readonly tenantId: string
  readonly envId: string | null
  readonly environment: string
  readonly deploymentId: string | null
  /** The canonical manifest text and its digest (checked by the caller). */
  readonly manifest: string
  readonly manifestDigest: string
  readonly overrides: ManifestOverride
}

type Decided =
  | { readonly ok: true; readonly decision: PlacementRecommended }
  | { readonly ok: false; readonly failure: Omit<PlacementFailed, 'deploymentId' | 'envId'> }

/**
 * Placement: where a deployment should run and why. Keeps its own read models of the providers
 * (evt.provider.changed, evt.provider.health, evt.provider.prices) and of the environments
 * (evt.project.updated), and its decisions, reused while their inputs are the same.
 */
export function createPlacement(deps: ContextDeps<unknown>) {
  const now = () => deps.clock.now()

  /** The providers weighed: the enabled ones, and a disabled one only when it is the pin. */
  const views = (rows: readonly ProviderRow[], pin: Pin | null): ProviderView[] =>
    rows.flatMap((row) =>
      row.manifest === null || (!row.enabled && row.name !== pin?.provider)
        ? []
        : [{ manifest: row.manifest, enabled: row.enabled, health: healthOf(row.health, now()) }],
    )
  /**
   * What changes a decision besides the manifest and overrides: names, manifests, enabled, health,
   * whether a spot feed is fresh (a stale one is priced at list), the pin. A price moving within a
   * fresh feed does not, by itself.
   */
  const fingerprintOf = (
    providers: readonly ProviderView[],
    pin: Pin | null,
    prices: ReadonlyMap<string, PriceQuote>,
  ) =>
    sha256(
      canonical({
        providers: providers.map((p) => {
          const quote = prices.get(p.manifest.metadata.name)
          return {
            name: p.manifest.metadata.name,
            manifest: p.manifest,
            enabled: p.enabled,
            healthy: p.health.healthy,
            feed: quote === undefined ? 'none' : quoteFresh(quote, now()) ? 'fresh' : 'stale',
          }
        }),
        pin: pin === null ? null : { provider: pin.provider, reason: pin.reason, by: pin.by },
      }),
    )

  /** Decides (or reuses the decision of the same inputs) in a tenant's transaction; stores it. */
  async function decide(tx: Transaction, ask: DecisionAsk): Promise<Decided> {
    const tenant = createTenantStore(tx)
    await tenant.putManifest(ask.tenantId, ask.manifestDigest, ask.manifest)
    const pinRow = ask.envId === null ? undefined : await tenant.pin(ask.envId)
    const pin: Pin | null =
      pinRow === undefined ? null : { provider: pinRow.provider, reason: pinRow.reason, by: pinRow.pinned_by }
    const rows = await createProviderStore(tx).all()
    const providers = views(rows, pin)
    const prices = new Map<string, PriceQuote>(
      rows.flatMap((r) => (r.prices === null ? [] : [[r.name, r.prices] as const])),
    )
    const key = {
      envId: ask.envId,
      manifestDigest: ask.manifestDigest,
      // The environment's name picks the manifest's own overrides (spec.environments.<name>).
      overridesDigest: sha256(canonical({ environment: ask.environment, overrides: ask.overrides })),
      fingerprint: fingerprintOf(providers, pin, prices),
    }
    const stored = await tenant.reusable(key)
    if (stored !== undefined) {
      await tenant.used(stored.id, ask.deploymentId)
      const decision = stored.decision as unknown as PlacementRecommended
      return { ok: true, decision: { ...decision, deploymentId: ask.deploymentId, reused: true } }
    }
    const loaded = loadManifest(ask.manifest)
    if (!loaded.ok) throw invalidDocument('the manifest', loaded.violations)
    const result = recommend({
      manifest: applyEnvironment(loaded.manifest, ask.environment, ask.overrides),
      providers,
      prices,
      pin,
      now: now(),
    })
    if (!result.ok)
      return {
        ok: false,
        failure: { reason: result.reason, retryable: result.retryable, candidates: result.candidates },
      }
    const decision: PlacementRecommended = {
      decisionId: `pld_${randomUUID()}`,
      envId: ask.envId,
      deploymentId: ask.deploymentId,
      manifestDigest: ask.manifestDigest,
      platform: result.platform,
      provider: result.provider,
      kind: result.kind,
      score: result.score,
      reasoning: result.reasoning,
      monthlyCost: result.monthlyCost,
      target: result.target,
      pinned: result.pinned,
      reused: false,
      candidates: result.candidates,
    }
    await tenant.putDecision(ask.tenantId, {
      id: decision.decisionId,
      env_id: ask.envId,
      deployment_id: ask.deploymentId,
      manifest_digest: key.manifestDigest,
      overrides_digest: key.overridesDigest,
      providers_fingerprint: key.fingerprint,
      decision: decision as unknown as Record<string, unknown>,
    })
    return { ok: true, decision }
  }

  const asTenant = (tx: Queryable, tenantId: string) =>
    tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])

  const environmentOf = async (tx: Queryable, envId: string) => {
    const row = await createTenantStore(tx).environment(envId)
    if (row === undefined) throw new NotFoundError(`no environment ${envId}`)
    return row
  }

  return {
    /**
     * cmd.placement.recommend: the provider, published from the command's handler
     * (evt.placement.recommended), or why none (evt.placement.failed).
     */
    async recommendFor(ctx: HandlerContext, work: PlacementRecommend): Promise<void> {
      await asTenant(ctx.tx, work.tenantId)
      const failed = (reason: string, retryable: boolean, candidates: PlacementFailed['candidates'] = []) =>
        ctx.publish({
          type: 'evt.placement.failed',
          tenantId: work.tenantId,
          key: work.envId,
          data: {
            deploymentId: work.deploymentId,
            envId: work.envId,
            reason: reason.slice(0, 2000),
            retryable,
            candidates,
          } satisfies PlacementFailed,
        })
      const loaded = loadManifest(work.manifest)
      if (!loaded.ok)
        return void (await failed(
          `the manifest is not valid: ${loaded.violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
          false,
        ))
      const digest = sha256(work.manifest)
      if (digest !== work.manifestDigest)
        return void (await failed(`the manifest's digest is ${digest}, not ${work.manifestDigest}`, false))
      const given = work.overrides === undefined ? undefined : overridesFrom(work.overrides)
      if (work.overrides !== undefined && given === undefined)
        return void (await failed(
          "the command's overrides are not valid deploy.yaml environment overrides",
          false,
        ))
      const overrides = given ?? (await createTenantStore(ctx.tx).environment(work.envId))?.overrides
      if (overrides === undefined)
        return void (await failed(
          `placement has not heard of environment ${work.envId} from the registry, so its stored overrides are unknown`,
          true,
        ))
      const decided = await decide(ctx.tx, {
        tenantId: work.tenantId,
        envId: work.envId,
        environment: work.environment,
        deploymentId: work.deploymentId,
        manifest: work.manifest,
        manifestDigest: work.manifestDigest,
        overrides,
      })
      if (!decided.ok)
        return void (await failed(
          decided.failure.reason,
          decided.failure.retryable,
          decided.failure.candidates,
        ))
      await ctx.publish({
        type: 'evt.placement.recommended',
        tenantId: work.tenantId,
        key: work.envId,
        data: decided.decision,
      })
    },

    /** POST /v1/placement/recommend: a manifest (its text, or the digest of one stored), for an environment. */
    async recommendNow(
      tenantId: string,
      body: { yaml?: string; manifestDigest?: string; environment?: string; envId?: string },
    ) {
      return deps.db.withTenant(tenantId, async (tx) => {
        const tenant = createTenantStore(tx)
        if ((body.yaml === undefined) === (body.manifestDigest === undefined))
          throw new InputError(
            'send the manifest: yaml (its text) or manifestDigest (one placement stored)',
            [{ path: '/yaml', message: 'exactly one of yaml and manifestDigest is required' }],
          )
        if (body.environment === undefined && body.envId === undefined)
          throw new InputError('name the environment: environment (a name) or envId', [
            { path: '/environment', message: 'environment or envId is required' },
          ])
        let text: string
        let digest: string
        if (body.yaml !== undefined) {
          const loaded = loadManifest(body.yaml)
          if (!loaded.ok) throw invalidDocument('the manifest', loaded.violations)
          text = canonical(loaded.manifest)
          digest = manifestDigest(loaded.manifest)
        } else {
          digest = body.manifestDigest ?? ''
          const found = await tenant.manifest(digest)
          if (found === undefined) throw new NotFoundError(`no manifest ${digest} stored by placement`)
          text = found
        }
        const env = body.envId === undefined ? undefined : await environmentOf(tx, body.envId)
        if (env !== undefined && body.environment !== undefined && body.environment !== env.name)
          throw new InputError(`environment ${env.env_id} is named ${env.name}, not ${body.environment}`, [
            { path: '/environment', message: `must be ${env.name}, or absent` },
          ])
        const decided = await decide(tx, {
          tenantId,
          envId: env?.env_id ?? null,
          environment: env?.name ?? body.environment ?? '',
          deploymentId: null,
          manifest: text,
          manifestDigest: digest,
          overrides: env?.overrides ?? {},
        })
        if (!decided.ok) throw new InputError(decided.failure.reason, [], { unprocessable: true })
        await deps.bus.publish(tx, {
          type: 'evt.placement.recommended',
          tenantId,
          key: env?.env_id ?? digest,
          data: decided.decision,
        })
        return decided.decision
      })
    },

    /** GET /v1/placement/explain/:envId: the decision the environment's last deploy used, as stored. */
    async explain(tenantId: string, envId: string) {
      return deps.db.withTenant(tenantId, async (tx) => {
        const tenant = createTenantStore(tx)
        const row = await tenant.lastOf(envId)
        if (row === undefined) {
          await environmentOf(tx, envId)
          throw new NotFoundError(`environment ${envId} has no placement decision yet`)
        }
        const pin = await tenant.pin(envId)
        return {
          ...(row.decision as unknown as PlacementRecommended),
          deploymentId: row.deployment_id,
          decidedAt: row.created_at.toISOString(),
          usedAt: row.used_at.toISOString(),
          pin: pin === undefined ? null : { provider: pin.provider, reason: pin.reason, by: pin.pinned_by },
        }
      })
    },

    /** PUT/DELETE /v1/placement/pins/:envId: an operator pins an environment to a provider, or lifts it. */
    async pin(
      viewer: Viewer,
      tenantId: string,
      envId: string,
      pin: { provider: string; reason: string } | null,
    ) {
      return deps.db.withTenant(tenantId, async (tx) => {
        // Another organisation's environment does not exist (404) before the caller is weighed (403).
        await environmentOf(tx, envId)
        if (!viewer.operator) throw new NotAllowedError('only platform operators pin environments')
        if (pin !== null && !(await createProviderStore(tx).all()).some((r) => r.name === pin.provider))
          throw new NotFoundError(`no provider ${pin.provider}`)
        const reason = pin?.reason ?? 'pin lifted'
        await createTenantStore(tx).setPin(
          tenantId,
          envId,
          pin === null ? null : { ...pin, by: viewer.actor },
          reason,
          viewer.actor,
        )
        const at = now().toISOString()
        await deps.bus.publish(tx, {
          type: 'evt.placement.pinned',
          tenantId,
          key: envId,
          data: { envId, provider: pin?.provider ?? null, reason, by: viewer.actor, at },
        })
        return { envId, provider: pin?.provider ?? null, reason, by: viewer.actor, at }
      })
    },

    /** evt.provider.changed: the router's provider, as it holds it now. */
    async providerChanged(tx: Queryable, event: ProviderChanged): Promise<void> {
      const loaded = loadProviderManifest(event.manifest)
      if (!loaded.ok) {
        deps.log.warn({ provider: event.provider }, 'a provider.yaml placement cannot read: not kept')
        return
      }
      await createProviderStore(tx).changed({
        name: event.provider,
        manifest: loaded.value,
        enabled: event.enabled,
        note: event.note,
        changedBy: event.changedBy,
        changedAt: event.changedAt,
      })
    },

    async healthReported(tx: Queryable, report: StoredHealth & { provider: string }): Promise<void> {
      const { provider, ...health } = report
      await createProviderStore(tx).health(provider, health)
    },

    async pricesQuoted(tx: Queryable, quote: ProviderPrices): Promise<void> {
      await createProviderStore(tx).prices(quote.provider, {
        points: quote.points,
        simulated: quote.simulated,
        quotedAt: quote.quotedAt,
        intervalMs: quote.intervalMs,
      })
    },

    /** evt.project.updated: the environments it tells of, with their stored overrides. */
    async projectUpdated(tx: Transaction, tenantId: string, event: ProjectUpdated): Promise<void> {
      const after = event.after.environments
      if (after === undefined) return
      await asTenant(tx, tenantId)
      const store = createTenantStore(tx)
      for (const [i, envId] of event.envIds.entries()) {
        const env = after[i]
        if (env === undefined) continue
        if (env === null) await store.removeEnvironment(envId)
        else
          await store.putEnvironment(tenantId, {
            env_id: env.id,
            project_id: event.projectId,
            name: env.name,
            overrides: overridesFrom(env.overrides) ?? {},
          })
      }
    },
  }
}
export type Placement = ReturnType<typeof createPlacement>
