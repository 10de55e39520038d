import { createHash } from 'node:crypto'
import type {
  DeployPlan,
  NetworkFailed,
  NetworkReady,
  Provisioned,
  ProvisionFailed,
  RouterProvision,
} from '@rxt/contracts'
import { loadManifest, type ManifestOverride } from '@rxt/contracts/manifest'
import type { HandlerContext, Queryable } from '@rxt/kit'
import { applyEnvironment, buildPlan, overridesFrom } from './domain/plan.ts'
import { planProblems } from './domain/preview.ts'
import { type ProviderView, selectPlatform } from './domain/select-platform.ts'

interface Attempt {
  readonly provider: string
  readonly reason: string
}

type RouteRow = {
  work: RouterProvision
  plan: DeployPlan | null
  provider: string | null
  attempt: number
  tried: Attempt[]
  state: 'dispatched' | 'networking' | 'ready' | 'failed'
}

const targetOf = (work: RouterProvision) => ({
  tenantId: work.tenantId,
  projectId: work.projectId,
  envId: work.envId,
  environment: work.environment,
  deploymentId: work.deploymentId,
})

/** The command that sends a plan's step to its platform family's adapter. */
const commandOf = (plan: DeployPlan, step: 'provision' | 'network') =>
  plan.platform === 'rxt-spot'
    ? step === 'provision'
      ? 'cmd.spot.provision.request'
      : 'cmd.spot.network.configure'
    : step === 'provision'
      ? 'cmd.sddc.provision.request'
      : 'cmd.sddc.network.configure'

/** At most this many providers are tried for one deployment. */
export const maxAttempts = 5

/**
 * Sends deployments to providers: the best one the manifest allows among the enabled and healthy
 * (read at each decision, so a provider disabled a moment ago gets no new work), and on a retryable
 * failure the next one, recording why; work already sent goes on where it was sent.
 */
export function createRouting(
  views: (tx: Queryable) => Promise<ProviderView[]>,
  /** The overrides an environment has stored in the registry, as the router last heard of them. */
  storedOverrides: (tx: Queryable, envId: string) => Promise<ManifestOverride | undefined>,
) {
  const asTenant = (ctx: HandlerContext, tenantId: string) =>
    ctx.tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])
  const route = async (ctx: HandlerContext, deploymentId: string) =>
    (
      await ctx.tx.query<RouteRow>(
        'SELECT work, plan, provider, attempt, tried, state FROM routes WHERE deployment_id = $1 FOR UPDATE',
        [deploymentId],
      )
    ).rows[0]

  /** Chooses among the providers not tried yet and makes the plan, or says why no provider can. */
  const choose = async (
    ctx: HandlerContext,
    work: RouterProvision,
    tried: Attempt[],
    attempt: number,
  ): Promise<
    | { readonly ok: true; readonly plan: DeployPlan; readonly provider: string; readonly reason: string }
    | { readonly ok: false; readonly reason: string; readonly retryable: boolean }
  > => {
    const loaded = loadManifest(work.manifest)
    const digest = `sha256:${createHash('sha256').update(work.manifest).digest('hex')}`
    const manifestProblem = !loaded.ok
      ? `the manifest is not valid: ${loaded.violations.map((v) => `${v.path} ${v.message}`).join('; ')}`
      : digest !== work.manifestDigest
        ? `the manifest's digest is ${digest}, not ${work.manifestDigest}`
        : undefined
    const candidates = (await views(ctx.tx)).filter(
      (v) => !tried.some((t) => t.provider === v.manifest.metadata.name),
    )
    // The environment's stored overrides: the command's, else what the registry last said of it. Not
    // knowing them is a failure, not a deploy without them.
    const given = work.overrides === undefined ? undefined : overridesFrom(work.overrides)
    const stored = work.overrides === undefined ? await storedOverrides(ctx.tx, work.envId) : given
    const overrides = stored ?? {}
    const unknown =
      work.overrides !== undefined && given === undefined
        ? "the command's overrides are not valid deploy.yaml environment overrides"
        : stored === undefined
          ? `the router has not heard of environment ${work.envId} from the registry, so its stored overrides are unknown`
          : undefined
    const problem = manifestProblem ?? unknown
    const selection =
      problem === undefined && loaded.ok && attempt <= maxAttempts
        ? selectPlatform(
            applyEnvironment(loaded.manifest, work.environment, overrides),
            candidates.filter((v) => v.enabled),
          )
        : undefined
    const provider =
      selection?.ok === true
        ? candidates.find((v) => v.manifest.metadata.name === selection.provider)?.manifest
        : undefined
    const plan =
      loaded.ok && provider !== undefined
        ? buildPlan({
            manifest: loaded.manifest,
            manifestDigest: work.manifestDigest,
            overrides,
            target: targetOf(work),
            provider,
            artifactRef: work.artifactRef,
          })
        : undefined
    const invalid = plan === undefined ? [] : planProblems(plan)
    if (plan === undefined || invalid.length > 0 || selection === undefined || !selection.ok) {
      const reason =
        problem ??
        (invalid.length > 0
          ? `the deployment does not fit what a provider takes: ${invalid.join('; ')}`
          : selection?.ok === false
            ? selection.reason
            : selection?.ok === true
              ? `selected provider ${selection.provider} vanished`
              : `${maxAttempts} providers were tried`) +
          (tried.length > 0 ? `; tried ${tried.map((t) => t.provider).join(', ')}` : '')
      // Later may succeed: a provider only unhealthy now, or an environment the registry's news of is
      // still on its way.
      const retryable =
        manifestProblem === undefined &&
        ((unknown !== undefined && stored === undefined) || (selection?.ok === false && selection.retryable))
      return { ok: false, reason, retryable }
    }
    return { ok: true, plan, provider: selection.provider, reason: selection.reason }
  }

  const routeFailed = (
    ctx: HandlerContext,
    work: RouterProvision,
    reason: string,
    tried: Attempt[],
    retryable = false,
  ) =>
    ctx.publish({
      type: 'evt.route.failed',
      tenantId: work.tenantId,
      key: work.envId,
      data: {
        deploymentId: work.deploymentId,
        envId: work.envId,
        reason: reason.slice(0, 2000),
        tried,
        retryable,
      },
    })

  /** Chooses among the providers not tried yet, and sends the work, or says why no provider can. */
  const dispatch = async (ctx: HandlerContext, work: RouterProvision, tried: Attempt[], attempt: number) => {
    const chosen = await choose(ctx, work, tried, attempt)
    if (!chosen.ok) {
      await write(ctx, work, null, null, attempt, tried, 'failed', chosen.reason)
      await routeFailed(ctx, work, chosen.reason, tried)
      return
    }
    const { plan } = chosen
    const selection = { provider: chosen.provider, reason: chosen.reason }
    // The plan is made once, kept with the route, and sent: the network step sends the same plan.
    await write(ctx, work, plan, selection.provider, attempt, tried, 'dispatched', selection.reason)
    await ctx.publish({
      type: commandOf(plan, 'provision'),
      tenantId: work.tenantId,
      key: work.envId,
      data: plan,
    })
    await ctx.publish({
      type: 'evt.route.decided',
      tenantId: work.tenantId,
      key: work.envId,
      data: {
        deploymentId: work.deploymentId,
        envId: work.envId,
        provider: selection.provider,
        platform: plan.platform,
        reason: selection.reason.slice(0, 2000),
        attempt,
        tried,
      },
    })
  }

  const write = (
    ctx: HandlerContext,
    work: RouterProvision,
    plan: DeployPlan | null,
    provider: string | null,
    attempt: number,
    tried: Attempt[],
    state: RouteRow['state'],
    reason: string,
  ) =>
    ctx.tx.query(
      `INSERT INTO routes (deployment_id, tenant_id, env_id, work, plan, provider, attempt, tried, state, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (deployment_id) DO UPDATE SET plan = excluded.plan, provider = excluded.provider,
         attempt = excluded.attempt, tried = excluded.tried, state = excluded.state, reason = excluded.reason,
         updated_at = now()`,
      [
        work.deploymentId,
        work.tenantId,
        work.envId,
        JSON.stringify(work),
        plan === null ? null : JSON.stringify(plan),
        provider,
        attempt,
        JSON.stringify(tried),
        state,
        reason,
      ],
    )

  /** Ends a route: recorded, and said in evt.route.failed. */
  const fail = async (ctx: HandlerContext, row: RouteRow, tried: Attempt[], reason: string) => {
    await write(ctx, row.work, row.plan, row.provider, row.attempt, tried, 'failed', reason)
    await ctx.publish({
      type: 'evt.route.failed',
      tenantId: row.work.tenantId,
      key: row.work.envId,
      data: {
        deploymentId: row.work.deploymentId,
        envId: row.work.envId,
        reason: reason.slice(0, 2000),
        tried,
      },
    })
  }

  return {
    /**
     * cmd.router.plan: the provider and the plan, answered (evt.route.planned) and not sent: the
     * orchestrator's deploy saga sends each step itself. Nothing is kept; the same command is answered
     * the same while the providers are.
     */
    async plan(ctx: HandlerContext, work: RouterProvision): Promise<void> {
      await asTenant(ctx, work.tenantId)
      const chosen = await choose(ctx, work, [], 1)
      if (!chosen.ok) {
        await routeFailed(ctx, work, chosen.reason, [], chosen.retryable)
        return
      }
      await ctx.publish({
        type: 'evt.route.planned',
        tenantId: work.tenantId,
        key: work.envId,
        data: {
          deploymentId: work.deploymentId,
          envId: work.envId,
          provider: chosen.provider,
          platform: chosen.plan.platform,
          reason: chosen.reason.slice(0, 2000),
          plan: chosen.plan,
        },
      })
    },

    /** cmd.router.provision: once per deployment (a second command for it is ignored). */
    async provision(ctx: HandlerContext, work: RouterProvision): Promise<void> {
      await asTenant(ctx, work.tenantId)
      if ((await route(ctx, work.deploymentId)) !== undefined) {
        ctx.log.info({ deploymentId: work.deploymentId }, 'deployment already routed; ignored')
        return
      }
      await dispatch(ctx, work, [], 1)
    },

    /** evt.provisioned of routed work: done here. */
    async provisioned(ctx: HandlerContext, tenantId: string, event: Provisioned): Promise<void> {
      await asTenant(ctx, tenantId)
      const row = await route(ctx, event.deploymentId)
      if (
        row === undefined ||
        row.state !== 'dispatched' ||
        row.provider !== (event.provider ?? event.platform)
      )
        return
      // Provisioned: its traffic is routed on the same provider, by the plan it was provisioned with.
      const plan = row.plan
      if (plan === null) {
        // Routed before plans were kept (an upgrade): nothing says what to route; the route ends.
        await fail(
          ctx,
          row,
          row.tried,
          'the route has no deploy plan (routed by an earlier version); deploy again',
        )
        return
      }
      await ctx.tx.query(
        `UPDATE routes SET state = 'networking', updated_at = now() WHERE deployment_id = $1`,
        [event.deploymentId],
      )
      await ctx.publish({ type: commandOf(plan, 'network'), tenantId, key: row.work.envId, data: plan })
    },

    /** evt.network.ready of routed work: it is reachable, and done here. */
    async networkReady(ctx: HandlerContext, tenantId: string, event: NetworkReady): Promise<void> {
      await asTenant(ctx, tenantId)
      const row = await route(ctx, event.deploymentId)
      if (
        row === undefined ||
        row.state !== 'networking' ||
        row.provider !== (event.provider ?? event.platform)
      )
        return
      await ctx.tx.query(
        `UPDATE routes SET state = 'ready', reason = $2, updated_at = now() WHERE deployment_id = $1`,
        [
          event.deploymentId,
          event.hostnames.length === 0
            ? 'ready; nothing is routed by name (private, TCP only, or no ports)'
            : `reachable at ${event.hostnames.join(', ')}`,
        ],
      )
    },

    /**
     * evt.network.failed of routed work: the route ends (no failover: the deployment exists on its
     * provider; undoing it is the deploy saga's compensation).
     */
    async networkFailed(ctx: HandlerContext, tenantId: string, event: NetworkFailed): Promise<void> {
      await asTenant(ctx, tenantId)
      const row = await route(ctx, event.deploymentId)
      const provider = event.provider ?? event.platform
      if (row === undefined || row.state !== 'networking' || row.provider !== provider) return
      await fail(ctx, row, row.tried, `${provider} could not route its traffic: ${event.reason}`)
    },

    /**
     * evt.provision.failed of routed work: a retryable failure fails over to the next provider the
     * manifest allows (the reason recorded); any other ends the route.
     */
    async provisionFailed(ctx: HandlerContext, tenantId: string, event: ProvisionFailed): Promise<void> {
      await asTenant(ctx, tenantId)
      const row = await route(ctx, event.deploymentId)
      const provider = event.provider ?? event.platform
      if (row === undefined || row.state !== 'dispatched' || row.provider !== provider) return
      const tried = [
        ...row.tried,
        { provider, reason: `${provider} could not provision: ${event.reason}`.slice(0, 1000) },
      ]
      if (!event.retryable) {
        await fail(ctx, row, tried, `${provider} refused it: ${event.reason}`)
        return
      }
      await dispatch(ctx, row.work, tried, row.attempt + 1)
    },
  }
}
