import { createHash } from 'node:crypto'
import type { DeployPlan, RouterPlan } from '@rxt/contracts'
import { loadManifest, type ManifestOverride } from '@rxt/contracts/manifest'
import type { HandlerContext, Queryable } from '@rxt/kit'
import { overridesFrom, type ProviderManifest } from '@rxt/platform-sdk'
import { buildPlan } from './domain/plan.ts'
import { planProblems } from './domain/preview.ts'

const targetOf = (work: RouterPlan) => ({
  tenantId: work.tenantId,
  projectId: work.projectId,
  envId: work.envId,
  environment: work.environment,
  deploymentId: work.deploymentId,
})

/** A provider as the router holds it, for a plan: its provider.yaml and whether it takes new work. */
export interface PlanProvider {
  readonly manifest: ProviderManifest
  readonly enabled: boolean
}

/**
 * Plans deployments on the provider placement chose: the router chooses nothing. The provider is
 * read at each command, so one disabled a moment ago gets no new plans. The orchestrator's deploy
 * saga sends the plan's steps.
 */
export function createRouting(
  providerOf: (tx: Queryable, name: string) => Promise<PlanProvider | undefined>,
  /** The overrides an environment has stored in the registry, as the router last heard of them. */
  storedOverrides: (tx: Queryable, envId: string) => Promise<ManifestOverride | undefined>,
) {
  const asTenant = (ctx: HandlerContext, tenantId: string) =>
    ctx.tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])
  /** Makes the plan on the named provider, or says why it cannot. */
  const planFor = async (
    ctx: HandlerContext,
    work: RouterPlan,
  ): Promise<
    | { readonly ok: true; readonly plan: DeployPlan; readonly reason: string }
    | { readonly ok: false; readonly reason: string; readonly retryable: boolean }
  > => {
    const loaded = loadManifest(work.manifest)
    const digest = `sha256:${createHash('sha256').update(work.manifest).digest('hex')}`
    if (!loaded.ok)
      return {
        ok: false,
        reason: `the manifest is not valid: ${loaded.violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
        retryable: false,
      }
    if (digest !== work.manifestDigest)
      return {
        ok: false,
        reason: `the manifest's digest is ${digest}, not ${work.manifestDigest}`,
        retryable: false,
      }
    // The environment's stored overrides: the command's, else what the registry last said of it. Not
    // knowing them is a failure, not a deploy without them.
    const given = work.overrides === undefined ? undefined : overridesFrom(work.overrides)
    if (work.overrides !== undefined && given === undefined)
      return {
        ok: false,
        reason: "the command's overrides are not valid deploy.yaml environment overrides",
        retryable: false,
      }
    const overrides = given ?? (await storedOverrides(ctx.tx, work.envId))
    if (overrides === undefined)
      return {
        ok: false,
        // Later may succeed: the registry's news of the environment may be on its way.
        reason: `the router has not heard of environment ${work.envId} from the registry, so its stored overrides are unknown`,
        retryable: true,
      }
    const provider = await providerOf(ctx.tx, work.provider)
    if (provider === undefined)
      return { ok: false, reason: `no provider ${work.provider} is known to the router`, retryable: false }
    if (!provider.enabled)
      return {
        ok: false,
        reason: `provider ${work.provider} is disabled by an operator; ask placement again`,
        retryable: false,
      }
    const plan = buildPlan({
      manifest: loaded.manifest,
      manifestDigest: work.manifestDigest,
      overrides,
      target: targetOf(work),
      provider: provider.manifest,
      artifactRef: work.artifactRef,
    })
    const invalid = planProblems(plan)
    if (invalid.length > 0)
      return {
        ok: false,
        reason: `the deployment does not fit what ${work.provider} takes: ${invalid.join('; ')}`,
        retryable: false,
      }
    return { ok: true, plan, reason: `the plan for ${work.provider}, which placement chose` }
  }

  const routeFailed = (ctx: HandlerContext, work: RouterPlan, reason: string, retryable: boolean) =>
    ctx.publish({
      type: 'evt.route.failed',
      tenantId: work.tenantId,
      key: work.envId,
      data: {
        deploymentId: work.deploymentId,
        envId: work.envId,
        reason: reason.slice(0, 2000),
        tried: [],
        retryable,
      },
    })

  return {
    /**
     * cmd.router.plan v2: the plan on the provider the command names, answered (evt.route.planned)
     * and not sent: the orchestrator's deploy saga sends each step itself. Nothing is kept; the same
     * command is answered the same while the provider is.
     */
    async plan(ctx: HandlerContext, work: RouterPlan): Promise<void> {
      await asTenant(ctx, work.tenantId)
      const made = await planFor(ctx, work)
      if (!made.ok) {
        await routeFailed(ctx, work, made.reason, made.retryable)
        return
      }
      await ctx.publish({
        type: 'evt.route.planned',
        tenantId: work.tenantId,
        key: work.envId,
        data: {
          deploymentId: work.deploymentId,
          envId: work.envId,
          provider: work.provider,
          platform: made.plan.platform,
          reason: made.reason,
          plan: made.plan,
        },
      })
    },
  }
}
