import { fileURLToPath } from 'node:url'
import {
  type DeployPlan,
  type Envelope,
  SpotDestroyMessage,
  SpotNetworkConfigureMessage,
  SpotProvisionRequestMessage,
  SpotRolloutMessage,
  SpotScaleMessage,
  SpotVerifyMessage,
} from '@rxt/contracts'
import {
  type ContextDeps,
  defineContext,
  extension,
  InputError,
  on,
  perContext,
  UnavailableError,
} from '@rxt/kit'
import {
  deliverSecrets,
  healthReport,
  laterAnswers,
  planRenderers,
  runDestroy,
  runNetwork,
  runProvision,
  runRollout,
  runVerify,
} from '@rxt/platform-sdk'
import { createSecretsClient } from '@rxt/secrets/client'
import Type from 'typebox'
import { createKube } from './kube.ts'
import { clusterSettingsOf, namespaceOf, spotRenderer } from './render/index.ts'
import { credentialsRoutes } from './routes.ts'
import { createSpotPlatform, type SpotPlatform, spotProviderName } from './spot-platform.ts'

/** rxt-spot's provider.yaml: the router offers it once an operator lists it in PROVIDER_FILES. */
export const spotProviderFile = fileURLToPath(new URL('../providers/rxt-spot.yaml', import.meta.url))

export interface SpotConfig {
  readonly SPOT_KUBECONFIG: string
  readonly SPOT_TOKEN_TTL_SECONDS: number
  readonly SPOT_ROLLOUT_TIMEOUT_MS: number
}

/** How often the adapter reports the cluster's health (evt.provider.health). */
export const spotHealthIntervalMs = 15_000

/** The cluster client of a context, or undefined when none is configured (SPOT_KUBECONFIG empty). */
const kubeOf = perContext((deps: Pick<ContextDeps<SpotConfig>, 'db' | 'config'>) =>
  deps.config.SPOT_KUBECONFIG === '' ? undefined : createKube(deps.config.SPOT_KUBECONFIG),
)

/**
 * The adapter of a context for a provider's settings (a plan's; the defaults otherwise), or undefined
 * when no cluster is configured. One per settings, all on one cluster client.
 */
export const spotPlatformOf = perContext((deps: Pick<ContextDeps<SpotConfig>, 'db' | 'clock' | 'config'>) => {
  const made = new Map<string, SpotPlatform>()
  return (settings: DeployPlan['settings'] = {}): SpotPlatform | undefined => {
    const kube = kubeOf(deps)
    if (kube === undefined) return undefined
    const cluster = clusterSettingsOf(settings)
    const id = JSON.stringify(cluster)
    let platform = made.get(id)
    if (platform === undefined) {
      platform = createSpotPlatform(deps, { kube, cluster })
      made.set(id, platform)
    }
    return platform
  }
})

/** The pods of a rollout, told once it completes; outside the command's transaction, which it outlives. */
async function tellPods(
  deps: ContextDeps<SpotConfig>,
  platform: SpotPlatform,
  command: DeployPlan,
  tenantId: string,
): Promise<void> {
  const rolled = await platform.rollout(command.envId, deps.config.SPOT_ROLLOUT_TIMEOUT_MS)
  if (!rolled.ok) {
    deps.log.warn({ envId: command.envId, failure: rolled.failure }, 'rollout not complete')
    return
  }
  const { namespace, pods } = await platform.pods(command.envId)
  if (pods.length === 0) return
  await deps.db.transaction(async (tx) => {
    for (const pod of pods)
      await deps.bus.publish(tx, {
        type: 'evt.spot.pod.created',
        tenantId,
        key: command.envId,
        data: {
          envId: command.envId,
          deploymentId: command.deploymentId,
          namespace,
          podId: pod.uid,
          podName: pod.name,
          kubeDeploymentName: pod.app,
        },
      })
  })
}

/** Why a command may not act for its envelope's tenant, if it may not. */
async function guardTenant(
  platform: SpotPlatform | undefined,
  command: { envId?: string; tenantId?: string },
  message: Envelope,
): Promise<string | undefined> {
  if (command.tenantId !== undefined && command.tenantId !== message.tenantId)
    return `the command names tenant ${command.tenantId} but comes from ${message.tenantId}`
  // Whatever tenant a command names, the environment it acts on must be its envelope's tenant's.
  if (platform === undefined || command.envId === undefined) return undefined
  const owner = await platform.ownerOf(command.envId)
  return owner === undefined || owner === message.tenantId
    ? undefined
    : `environment ${command.envId} is not tenant ${message.tenantId}'s`
}

/**
 * The RXT Spot adapter: environments as namespaces on a Kubernetes cluster (SPOT_KUBECONFIG). It
 * answers the spot commands meant for it (no provider named, or rxt-spot), reports the cluster's
 * health, and brokers short-lived kubeconfigs for environments.
 */
export const spot = defineContext<SpotConfig>({
  name: 'spot',
  description: 'The RXT Spot adapter: environments as Kubernetes namespaces',
  config: Type.Object({
    SPOT_KUBECONFIG: Type.String({
      default: '',
      description: 'Path of the kubeconfig of the cluster RXT Spot runs on; empty: the adapter is off',
    }),
    SPOT_TOKEN_TTL_SECONDS: Type.Integer({
      minimum: 600,
      maximum: 86_400,
      default: 3600,
      description: 'How long brokered kubeconfig tokens live',
    }),
    SPOT_ROLLOUT_TIMEOUT_MS: Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      default: 600_000,
      description: 'How long the adapter watches a rollout before it stops waiting',
    }),
  }),
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => credentialsRoutes(app, deps, () => spotPlatformOf(deps)()),
  extensions: [extension(planRenderers, spotRenderer)],
  handlers: (deps) => {
    /**
     * The adapter a command is for: undefined when it names another provider (not RXT Spot's own);
     * refused when it is not its envelope's tenant's to give; retried while no cluster is configured.
     */
    const platformFor = async (
      command: { provider?: string; settings?: DeployPlan['settings']; envId?: string; tenantId?: string },
      message: Envelope,
    ): Promise<SpotPlatform | undefined> => {
      if (command.provider !== undefined && command.provider !== spotProviderName) return undefined
      const platform = spotPlatformOf(deps)(command.settings)
      // A command acts for the tenant of its envelope only: on its own environments, as itself.
      const owner = await guardTenant(platform, command, message)
      if (owner !== undefined) throw new InputError(owner)
      if (platform === undefined)
        throw new UnavailableError('RXT Spot has no cluster configured (SPOT_KUBECONFIG)')
      return platform
    }
    // Each command acts after commit: the cluster is called with no transaction open (its answers by key
    // are recorded on the context's database as they come), then the answers are published with the
    // inbox row. A redelivery after the outcome committed does not call the cluster again.
    return [
      on(
        SpotProvisionRequestMessage,
        {
          id: 'provision',
          act: async (plan, _act, message) => {
            const platform = await platformFor(plan, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            await runProvision(answers, platform, plan)
            return answers.messages
          },
        },
        async (_plan, ctx) => {
          for (const answer of ctx.outcome ?? []) await ctx.publish(answer)
        },
      ),
      on(
        SpotRolloutMessage,
        {
          id: 'rollout',
          act: async (plan, _act, message) => {
            const platform = await platformFor(plan, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            const done = await runRollout(answers, platform, plan, {
              secrets: deliverSecrets({
                read: (tenantId, grantId) =>
                  createSecretsClient(deps.peer('secrets')).grantValues(tenantId, grantId),
                write: (envId, secrets) => platform.writeSecrets(envId, secrets),
              }),
            })
            return { platform, answers: answers.messages, done: done !== undefined }
          },
        },
        async (plan, ctx) => {
          const outcome = ctx.outcome
          if (outcome === undefined) return
          for (const answer of outcome.answers) await ctx.publish(answer)
          // Once the answer is committed, the rollout is watched outside any transaction.
          if (outcome.done)
            ctx.tx.afterCommit(() => {
              void tellPods(deps, outcome.platform, plan, plan.tenantId).catch((error: Error) =>
                deps.log.warn({ envId: plan.envId, error: error.message }, 'pods not told'),
              )
            })
        },
      ),
      on(
        SpotVerifyMessage,
        {
          id: 'verify',
          act: async (plan, _act, message) => {
            const platform = await platformFor(plan, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            await runVerify(answers, platform, plan)
            return { answers: answers.messages }
          },
        },
        async (_plan, ctx) => {
          for (const answer of ctx.outcome?.answers ?? []) await ctx.publish(answer)
        },
      ),
      on(
        SpotNetworkConfigureMessage,
        {
          id: 'network',
          act: async (plan, _act, message) => {
            const platform = await platformFor(plan, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            const network = await runNetwork(answers, platform, plan)
            return { answers: answers.messages, network }
          },
        },
        async (plan, ctx) => {
          const outcome = ctx.outcome
          if (outcome === undefined) return
          for (const answer of outcome.answers) await ctx.publish(answer)
          const { network } = outcome
          for (const ingress of network?.resources.filter((r) => r.kind === 'Ingress') ?? [])
            for (const hostname of new Set((network?.urls ?? []).map((u) => new URL(u).hostname)))
              await ctx.publish({
                type: 'evt.spot.ingress.configured',
                tenantId: plan.tenantId,
                key: plan.envId,
                data: {
                  envId: plan.envId,
                  deploymentId: plan.deploymentId,
                  namespace: namespaceOf(plan.provision),
                  ingressId: ingress.id.replace('/', ':'),
                  hostname,
                },
              })
        },
      ),
      on(
        SpotDestroyMessage,
        {
          id: 'destroy',
          act: async (command, _act, message) => {
            const platform = await platformFor(command, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            await runDestroy(answers, platform, command)
            deps.log.info(
              { envId: command.envId, reason: command.reason },
              'environment destroyed on request',
            )
            return answers.messages
          },
        },
        async (_command, ctx) => {
          for (const answer of ctx.outcome ?? []) await ctx.publish(answer)
        },
      ),
      on(
        SpotScaleMessage,
        {
          id: 'scale',
          act: async (command, _act, message) => {
            const platform = await platformFor(command, message)
            if (platform === undefined) return
            const outcome = await platform.scaleResources({
              key: `${command.deploymentId}:scale:${message.id}`,
              envId: command.envId,
              replicas: command.replicas,
              autoscaling: command.hpa,
            })
            if (outcome.ok) return
            // Retried with backoff while the cluster cannot answer; a refusal is logged and dropped.
            if (outcome.failure.retryable) throw new UnavailableError(outcome.failure.message)
            deps.log.warn({ envId: command.envId, failure: outcome.failure }, 'scale refused by the cluster')
          },
        },
        () => undefined,
      ),
    ]
  },
  stop: (deps) => spotPlatformOf(deps)()?.close(),
  jobs: (deps) => [
    {
      name: 'forget-calls',
      everyMs: 3_600_000,
      run: async () => spotPlatformOf(deps)()?.forget(new Date(deps.clock.now().getTime() - 7 * 86_400_000)),
    },
    {
      name: 'health',
      everyMs: spotHealthIntervalMs,
      atStart: true,
      run: async () => {
        const platform = spotPlatformOf(deps)()
        if (platform === undefined) return
        const report = await healthReport(
          spotProviderName,
          'the Kubernetes API server',
          () => platform.probe(),
          {
            now: () => deps.clock.now(),
            intervalMs: spotHealthIntervalMs,
          },
        )
        await deps.db.transaction((tx) => deps.bus.publish(tx, report))
      },
    },
  ],
})

export { createKube, type Kube } from './kube.ts'
export {
  type ClusterSettings,
  clusterSettingsOf,
  defaultClusterSettings,
  environmentObjects,
  namespaceOf,
  networkObjects,
  renderSpotPlan,
  spotRenderer,
  workloadObjects,
} from './render/index.ts'
export { createSpotPlatform, type SpotOptions, type SpotPlatform, spotProviderName } from './spot-platform.ts'
