import { createHash } from 'node:crypto'
import type { DeployPlan, RouterPlan } from '@rxt/contracts'
import { loadManifest, type ManifestOverride } from '@rxt/contracts/manifest'
import type { HandlerContext, Queryable } from '@rxt/kit'
import { applyEnvironment, buildPlan, overridesFrom } from './domain/plan.ts'
import { planProblems } from './domain/preview.ts'
import { type ProviderView, selectPlatform } from './domain/select-platform.ts'

const targetOf = (work: RouterPlan) => ({
  tenantId: work.tenantId,
  projectId: work.projectId,
  envId: work.envId,
  environment: work.environment,
  deploymentId: work.deploymentId,
})

/**
 * Places deployments: the best provider the manifest allows among the enabled and healthy (read at
 * each decision, so a provider disabled a moment ago gets no new work), and the plan made for it. The
 * orchestrator's deploy saga sends the plan's steps.
 */
export function createRouting(
  views: (tx: Queryable) => Promise<ProviderView[]>,
  /** The overrides an environment has stored in the registry, as the router last heard of them. */
  storedOverrides: (tx: Queryable, envId: string) => Promise<ManifestOverride | undefined>,
) {
  const asTenant = (ctx: HandlerContext, tenantId: string) =>
    ctx.tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])
  /** Chooses the provider and makes the plan, or says why no provider can. */
  const choose = async (
    ctx: HandlerContext,
    work: RouterPlan,
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
    const candidates = await views(ctx.tx)
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
      problem === undefined && loaded.ok
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
            : `selected provider ${selection?.ok === true ? selection.provider : ''} vanished`)
      // Later may succeed: a provider only unhealthy now, or an environment the registry's news of is
      // still on its way.
      const retryable =
        manifestProblem === undefined &&
        ((work.overrides === undefined && stored === undefined) ||
          (selection?.ok === false && selection.retryable))
      return { ok: false, reason, retryable }
    }
    return { ok: true, plan, provider: selection.provider, reason: selection.reason }
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
     * cmd.router.plan: the provider and the plan, answered (evt.route.planned) and not sent: the
     * orchestrator's deploy saga sends each step itself. Nothing is kept; the same command is answered
     * the same while the providers are.
     */
    async plan(ctx: HandlerContext, work: RouterPlan): Promise<void> {
      await asTenant(ctx, work.tenantId)
      const chosen = await choose(ctx, work)
      if (!chosen.ok) {
        await routeFailed(ctx, work, chosen.reason, chosen.retryable)
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
  }
}
