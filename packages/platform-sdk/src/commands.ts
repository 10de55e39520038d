import type { DeployPlan, DestroyEnvironment } from '@rxt/contracts'
import { checkPlan } from './check-request.ts'
import {
  type DeploymentOutcome,
  type EnvironmentOutcome,
  type EnvironmentStatus,
  FailureCode,
  failure,
  type IComputePlatform,
  type NetworkOutcome,
  type Outcome,
  type PlatformFailure,
} from './compute-platform.ts'

/**
 * The platform commands (cmd.spot.*, cmd.sddc.*) as SDK calls, and their answers as events: what
 * every adapter's command handlers share.
 */

/** Where answers go: a message handler's context, which publishes in its transaction. */
export interface Answers {
  publish(message: {
    type: string
    tenantId: string
    key: string
    data: Record<string, unknown>
  }): Promise<unknown>
}

/** An answer as `Answers.publish` takes it. */
export type Answer = Parameters<Answers['publish']>[0]

/**
 * Answers kept for later: a handler that acts after commit runs the command in its `act` (no
 * transaction open) with these, and publishes `messages` in its `handle`, with the inbox row.
 */
export function laterAnswers(): Answers & { readonly messages: readonly Answer[] } {
  const messages: Answer[] = []
  return {
    messages,
    publish: async (message) => {
      messages.push(message)
    },
  }
}

/** How an adapter answers a command: outcome events naming the deployment, family and provider. */
function answerer(ctx: Answers, platform: IComputePlatform, plan: DeployPlan) {
  const common = {
    envId: plan.envId,
    deploymentId: plan.deploymentId,
    platform: plan.platform,
    provider: platform.name,
  }
  const publish = (type: string, data: Record<string, unknown>) =>
    ctx.publish({ type, tenantId: plan.tenantId, key: plan.envId, data: { ...common, ...data } })
  return {
    succeeded: publish,
    failed: (
      type: 'evt.provision.failed' | 'evt.rollout.failed' | 'evt.network.failed' | 'evt.verify.failed',
      failure: PlatformFailure,
    ) =>
      publish(type, {
        reason:
          `${platform.name}${platform.name.startsWith('sim-') ? ' (simulated)' : ''}: ${failure.message}`.slice(
            0,
            2000,
          ),
        retryable: failure.retryable,
      }),
  }
}

/**
 * Runs a plan's provision command: the environment (namespace, quotas, policies; VM folder, segment)
 * and answers evt.provisioned with what the platform holds, or evt.provision.failed with the
 * platform's reason and whether a retry can help. The workload is the rollout's.
 */
export async function runProvision(
  ctx: Answers,
  platform: IComputePlatform,
  plan: DeployPlan,
): Promise<EnvironmentOutcome | undefined> {
  const answer = answerer(ctx, platform, plan)
  const broken = checkPlan(plan)
  if (broken !== undefined) return void (await answer.failed('evt.provision.failed', broken))
  const provisioned = await platform.provisionEnvironment(plan.provision)
  if (!provisioned.ok) return void (await answer.failed('evt.provision.failed', provisioned.failure))
  await answer.succeeded('evt.provisioned', {
    resourceIds: provisioned.value.resources.map((r) => `${r.kind}:${r.id}`),
    endpoints: [],
  })
  return provisioned.value
}

/** What an adapter does around a rollout besides deploying the workload. */
export interface RolloutOptions {
  /**
   * Puts the values of the secrets the workload reads where it reads them (a Kubernetes Secret each),
   * before the workload is applied: they come by the plan's grant from the secrets context.
   */
  readonly secrets?: (plan: DeployPlan) => Promise<Outcome<unknown>>
}

/**
 * Runs a plan's rollout command: the workload applied as the plan says (image, replicas, ports), and
 * answers evt.rolled.out with what the platform holds and where the workload listens, or
 * evt.rollout.failed. Whether it became healthy is the verify's question.
 */
export async function runRollout(
  ctx: Answers,
  platform: IComputePlatform,
  plan: DeployPlan,
  options: RolloutOptions = {},
): Promise<DeploymentOutcome | undefined> {
  const answer = answerer(ctx, platform, plan)
  const broken = checkPlan(plan)
  if (broken !== undefined) return void (await answer.failed('evt.rollout.failed', broken))
  if (plan.deploy.secrets.length > 0 && options.secrets !== undefined) {
    const delivered = await options.secrets(plan)
    if (!delivered.ok) return void (await answer.failed('evt.rollout.failed', delivered.failure))
  }
  const deployed = await platform.deployApplication(plan.deploy)
  if (!deployed.ok) return void (await answer.failed('evt.rollout.failed', deployed.failure))
  await answer.succeeded('evt.rolled.out', {
    image: plan.deploy.image,
    resourceIds: [...new Set(deployed.value.resources.map((r) => `${r.kind}:${r.id}`))],
    endpoints: deployed.value.endpoints.map((e) => ({
      name: e.name,
      host: e.host,
      port: e.port,
      protocol: e.protocol === 'websocket' ? 'http' : e.protocol,
    })),
  })
  return deployed.value
}

/**
 * Runs a plan's network command and answers evt.network.ready or evt.network.failed; a plan with
 * nothing to reach (no network) is ready at once, with no hostnames.
 */
export async function runNetwork(
  ctx: Answers,
  platform: IComputePlatform,
  plan: DeployPlan,
): Promise<NetworkOutcome | undefined> {
  const answer = answerer(ctx, platform, plan)
  const broken = checkPlan(plan)
  if (broken !== undefined) return void (await answer.failed('evt.network.failed', broken))
  if (plan.network === null)
    return void (await answer.succeeded('evt.network.ready', { hostnames: [], vip: null }))
  const outcome = await platform.configureNetwork(plan.network)
  if (!outcome.ok) return void (await answer.failed('evt.network.failed', outcome.failure))
  await answer.succeeded('evt.network.ready', {
    hostnames: [...new Set(outcome.value.urls.map((u) => new URL(u).hostname))],
    vip: outcome.value.vip,
  })
  return outcome.value
}

/** How long a verify waits for a rollout to finish before it answers "still progressing" (retryable). */
export interface VerifyOptions {
  /** Default 20 s: well inside a handler's timeout; the saga retries a retryable answer. */
  readonly waitMs?: number
  /** Between status reads; default 500 ms. */
  readonly pollMs?: number
}

/**
 * Runs a plan's verify command: reads the environment's status until the plan's image runs with every
 * desired replica ready (evt.verified), or answers evt.verify.failed — retryable while it is still
 * rolling out after `waitMs` or the platform did not answer; not retryable when it is degraded, gone,
 * or runs another image (a later deploy replaced it).
 */
export async function runVerify(
  ctx: Answers,
  platform: IComputePlatform,
  plan: DeployPlan,
  options: VerifyOptions = {},
): Promise<EnvironmentStatus | undefined> {
  const answer = answerer(ctx, platform, plan)
  const broken = checkPlan(plan)
  if (broken !== undefined) return void (await answer.failed('evt.verify.failed', broken))
  const waitMs = options.waitMs ?? 20_000
  const pollMs = options.pollMs ?? 500
  const deadline = performance.now() + waitMs
  const image = plan.deploy.image
  for (;;) {
    const status = await platform.getStatus(plan.envId)
    if (!status.ok) return void (await answer.failed('evt.verify.failed', status.failure))
    const s = status.value
    const refuse = (code: FailureCode, message: string) =>
      answer.failed('evt.verify.failed', failure(code, message, 'verify'))
    if (s.phase === 'absent' || s.phase === 'provisioned')
      return void (await refuse(
        FailureCode.notFound,
        `nothing runs in environment ${plan.envId} (${s.phase}): ${s.message}`,
      ))
    if (s.image !== null && s.image !== image)
      return void (await refuse(
        FailureCode.conflict,
        `environment ${plan.envId} runs ${s.image}, not ${image}: another deploy replaced it`,
      ))
    if (s.phase === 'degraded') return void (await refuse(FailureCode.rejected, `degraded: ${s.message}`))
    if (s.phase === 'ready' && s.healthy) {
      await answer.succeeded('evt.verified', { image, revision: s.revision, replicas: s.replicas })
      return s
    }
    if (performance.now() + pollMs > deadline)
      return void (await refuse(
        FailureCode.timeout,
        `${s.replicas.ready} of ${s.replicas.desired} replicas ready after ${Math.round(waitMs / 1000)} s: ${s.message}`,
      ))
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}

/**
 * Runs a destroy command (cmd.spot.destroy, cmd.sddc.destroy): everything of the environment goes, and
 * the answer is evt.destroyed (saying whether anything was left) or evt.destroy.failed. Destroying
 * what is gone succeeds (`existed: false`): a compensation may run more than once.
 */
export async function runDestroy(
  ctx: Answers,
  platform: IComputePlatform,
  command: DestroyEnvironment,
): Promise<boolean> {
  const common = {
    envId: command.envId,
    deploymentId: command.deploymentId,
    platform: platform.kind === 'k8s' ? 'rxt-spot' : 'sddc-flex',
    provider: platform.name,
  }
  const outcome = await platform.destroyEnvironment({
    key: `${command.deploymentId}:destroy`,
    envId: command.envId,
  })
  const publish = (type: string, data: Record<string, unknown>) =>
    ctx.publish({ type, tenantId: command.tenantId, key: command.envId, data: { ...common, ...data } })
  if (!outcome.ok) {
    await publish('evt.destroy.failed', {
      reason:
        `${platform.name}${platform.name.startsWith('sim-') ? ' (simulated)' : ''}: ${outcome.failure.message}`.slice(
          0,
          2000,
        ),
      retryable: outcome.failure.retryable,
    })
    return false
  }
  await publish('evt.destroyed', { existed: outcome.value.existed })
  return true
}

/**
 * Probes a provider and words its health report (evt.provider.health): healthy when the probe
 * succeeded, with how long it took; `what` names what answered, for people.
 */
export async function healthReport(
  provider: string,
  what: string,
  probe: () => Promise<Outcome<unknown>>,
  options: { now: () => Date; intervalMs: number },
): Promise<{ type: 'evt.provider.health'; tenantId: null; key: string; data: Record<string, unknown> }> {
  const started = performance.now()
  const outcome = await probe()
  return {
    type: 'evt.provider.health',
    tenantId: null,
    key: provider,
    data: {
      provider,
      healthy: outcome.ok,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      message: outcome.ok ? `${what} answered` : `${what} failed its probe: ${outcome.failure.message}`,
      checkedAt: options.now().toISOString(),
      intervalMs: options.intervalMs,
    },
  }
}
