import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  type DeployPlan,
  type MessageContract,
  SddcDestroyMessage,
  SddcNetworkConfigureMessage,
  SddcProvisionRequestMessage,
  SddcRolloutMessage,
  SddcVerifyMessage,
  SpotDestroyMessage,
  SpotNetworkConfigureMessage,
  SpotProvisionRequestMessage,
  SpotRolloutMessage,
  SpotVerifyMessage,
} from '@rxt/contracts'
import { defineContext, extension, InputError, NotFoundError, on, perContext, type Queryable } from '@rxt/kit'
import {
  type Answers,
  defaultProviderFiles,
  deliverSecrets,
  healthReport,
  type IComputePlatform,
  laterAnswers,
  loadProviderManifest,
  type PlanRenderer,
  planRenderers,
  type RenderedPlan,
  rendererFor,
  runDestroy,
  runNetwork,
  runProvision,
  runRollout,
  runVerify,
  succeeded,
} from '@rxt/platform-sdk'
import { createSecretsClient } from '@rxt/secrets/client'
import Type from 'typebox'

import { simPriceIntervalMs, simulatedQuote } from './price-feed.ts'
import { vmRenderer } from './render-vm.ts'
import {
  createSimPlatform,
  type SimFaults,
  SimFlavor,
  type SimPlatform,
  simProviderName,
} from './sim-platform.ts'

/** The simulations' provider.yaml files: the embedded default's providers. */
export const simProviderFiles = ['sim-container.yaml', 'sim-vm.yaml'].map((file) =>
  fileURLToPath(new URL(`../providers/${file}`, import.meta.url)),
)

export interface SimConfig {
  readonly SIM_LATENCY_MS: number
  readonly SIM_ROLLOUT_MS: number
}

/** How often each simulation reports its health (evt.provider.health). */
export const simHealthIntervalMs = 15_000

/** Both simulations of one context database. */
export const simPlatformsOf = perContext(
  (deps: {
    db: Parameters<typeof createSimPlatform>[0]['db']
    clock: Parameters<typeof createSimPlatform>[0]['clock']
    config: SimConfig
  }) => {
    const options = { latencyMs: deps.config.SIM_LATENCY_MS, rolloutMs: deps.config.SIM_ROLLOUT_MS }
    return new Map<string, SimPlatform>(
      [SimFlavor.container, SimFlavor.vm].map((flavor) => [
        simProviderName(flavor),
        createSimPlatform(deps, { flavor, ...options }),
      ]),
    )
  },
)

const Faults = Type.Object(
  {
    failCall: Type.Optional(Type.Integer({ minimum: 1, description: 'Fail the Nth call from now' })),
    failRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Fail this share of calls' })),
    failOperation: Type.Optional(
      Type.Union(
        [
          'provisionEnvironment',
          'deployApplication',
          'configureNetwork',
          'scaleResources',
          'getStatus',
          'destroyEnvironment',
        ].map((o) => Type.Literal(o)),
        { description: 'Fail every call of this operation' },
      ),
    ),
    code: Type.Optional(
      Type.Union(
        ['invalid', 'not-found', 'conflict', 'rejected', 'unavailable', 'timeout'].map((c) =>
          Type.Literal(c),
        ),
        { description: 'The failure injected (unavailable unless given)' },
      ),
    ),
  },
  { additionalProperties: false },
)

/**
 * What a simulation applied of a plan: its family's renderer's objects for the steps done, kept as a
 * real platform would keep the objects (nothing when no adapter of this build renders the family).
 */
async function keepRendered(
  tx: Queryable,
  renderers: readonly PlanRenderer[],
  plan: DeployPlan,
  steps: readonly (keyof Omit<RenderedPlan, 'summary'>)[],
): Promise<void> {
  const renderer = rendererFor(renderers, plan.platform)
  if (renderer === undefined) return
  const rendered = renderer.render(plan)
  for (const step of steps)
    await tx.query(
      `INSERT INTO rendered (platform, env_id, step, deployment_id, objects) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (platform, env_id, step) DO UPDATE SET deployment_id = excluded.deployment_id,
         objects = excluded.objects, at = now()`,
      [plan.provider, plan.envId, step, plan.deploymentId, JSON.stringify(rendered[step])],
    )
}

/**
 * The simulated compute platforms (nothing runs): their state in this context's schema, their health
 * reported like any adapter's, and failure injection for operators testing what happens when a
 * platform fails.
 */
export const sim = defineContext<SimConfig>({
  name: 'sim',
  description: 'Simulated compute platforms (container-like and VM-like): nothing runs',
  config: Type.Object({
    SIM_LATENCY_MS: Type.Integer({
      minimum: 0,
      maximum: 60_000,
      default: 0,
      description: 'Added to every call of the simulations',
    }),
    SIM_ROLLOUT_MS: Type.Integer({
      minimum: 0,
      maximum: 600_000,
      default: 1000,
      description: 'How long a simulated rollout takes before its replicas are ready',
    }),
  }),
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => {
    app.put(
      '/admin/sim/:provider/faults',
      {
        config: { auth: { operator: true } },
        schema: {
          tags: ['sim'],
          summary:
            'Inject failures into a simulation (an empty body clears them), to test what a failing platform does',
          params: Type.Object({ provider: Type.String({ maxLength: 63 }) }),
          body: Faults,
          response: { 200: Type.Object({ provider: Type.String(), faults: Faults }) },
        },
      },
      async (request) => {
        const platform = simPlatformsOf(deps).get(request.params.provider)
        if (platform === undefined) throw new NotFoundError(`no simulation ${request.params.provider}`)
        const faults = request.body as SimFaults
        platform.inject(Object.keys(faults).length === 0 ? undefined : faults)
        deps.log.warn({ provider: request.params.provider, faults }, 'failures injected into a simulation')
        return { provider: request.params.provider, faults: request.body }
      },
    )
    app.get(
      '/admin/sim/:provider/environments/:envId/objects',
      {
        config: { auth: { operator: true } },
        schema: {
          tags: ['sim'],
          summary:
            "The objects a simulation applied to an environment, by step, as its family's renderer made them of the plans it was sent",
          params: Type.Object({
            provider: Type.String({ maxLength: 63 }),
            envId: Type.String({ maxLength: 128 }),
          }),
          response: {
            200: Type.Object({
              provider: Type.String(),
              envId: Type.String(),
              steps: Type.Record(Type.String(), Type.Array(Type.Record(Type.String(), Type.Unknown()))),
            }),
          },
        },
      },
      async (request) => {
        const { provider, envId } = request.params
        if (!simPlatformsOf(deps).has(provider)) throw new NotFoundError(`no simulation ${provider}`)
        const { rows } = await deps.db.query<{ step: string; objects: Record<string, unknown>[] }>(
          'SELECT step, objects FROM rendered WHERE platform = $1 AND env_id = $2',
          [provider, envId],
        )
        if (rows.length === 0) throw new NotFoundError(`${provider} applied nothing to ${envId}`)
        return { provider, envId, steps: Object.fromEntries(rows.map((r) => [r.step, r.objects])) }
      },
    )
  },
  extensions: [
    extension(planRenderers, vmRenderer),
    ...simProviderFiles.map((file) => extension(defaultProviderFiles, file)),
  ],
  // The commands meant for a simulation (by provider); the real adapters take the others.
  handlers: (deps) => {
    const renderers = deps.extensions(planRenderers)
    /**
     * A plan's step on the simulation it names, when that one speaks its family: run after commit (the
     * simulated latency waits with no transaction open; the simulation records its state and answers by
     * key in transactions of its own), then answered, and what it applied kept, with the inbox row.
     */
    const step = <C extends MessageContract>(
      contract: C,
      id: string,
      kind: 'k8s' | 'vm',
      run: (ctx: Answers, platform: IComputePlatform, plan: DeployPlan) => Promise<unknown>,
      steps: readonly (keyof Omit<RenderedPlan, 'summary'>)[],
    ) =>
      on(
        contract,
        {
          id,
          act: async (data) => {
            const plan = data as DeployPlan
            const platform = simPlatformsOf(deps).get(plan.provider)
            if (platform === undefined || platform.kind !== kind) return undefined
            const answers = laterAnswers()
            const done = await run(answers, platform, plan)
            return { answers: answers.messages, done: done !== undefined }
          },
        },
        async (data, ctx) => {
          const outcome = ctx.outcome
          if (outcome === undefined) return
          for (const answer of outcome.answers) await ctx.publish(answer)
          if (outcome.done) await keepRendered(ctx.tx, renderers, data as DeployPlan, steps)
        },
      )
    /** A destroy on the simulation it names: everything of the environment goes, what it applied too. */
    const destroy = (
      contract: typeof SpotDestroyMessage | typeof SddcDestroyMessage,
      id: string,
      kind: 'k8s' | 'vm',
    ) =>
      on(
        contract,
        {
          id,
          act: async (command, _act, message) => {
            const platform = simPlatformsOf(deps).get(command.provider)
            if (platform === undefined || platform.kind !== kind) return undefined
            // A command acts for the tenant of its envelope only.
            if (command.tenantId !== message.tenantId)
              throw new InputError(
                `the command names tenant ${command.tenantId} but comes from ${message.tenantId}`,
              )
            const answers = laterAnswers()
            const done = await runDestroy(answers, platform, command)
            return { answers: answers.messages, done, provider: platform.name }
          },
        },
        async (command, ctx) => {
          const outcome = ctx.outcome
          if (outcome === undefined) return
          for (const answer of outcome.answers) await ctx.publish(answer)
          if (outcome.done)
            await ctx.tx.query('DELETE FROM rendered WHERE platform = $1 AND env_id = $2', [
              outcome.provider,
              command.envId,
            ])
        },
      )
    /**
     * A rollout reads the values of the secrets its workload reads by the plan's grant, as a real
     * adapter does (each read is audited there), and keeps none of them: a simulation has nowhere to
     * put them.
     */
    const rollout = (answers: Answers, platform: IComputePlatform, plan: DeployPlan) =>
      runRollout(answers, platform, plan, {
        secrets: deliverSecrets({
          read: (tenantId, grantId) =>
            createSecretsClient(deps.peer('secrets')).grantValues(tenantId, grantId),
          write: async () => succeeded(undefined),
        }),
      })
    return [
      destroy(SpotDestroyMessage, 'spot-destroy', 'k8s'),
      destroy(SddcDestroyMessage, 'sddc-destroy', 'vm'),
      step(SpotProvisionRequestMessage, 'spot-provision', 'k8s', runProvision, ['environment']),
      step(SddcProvisionRequestMessage, 'sddc-provision', 'vm', runProvision, ['environment']),
      step(SpotRolloutMessage, 'spot-rollout', 'k8s', rollout, ['workload']),
      step(SddcRolloutMessage, 'sddc-rollout', 'vm', rollout, ['workload']),
      step(SpotNetworkConfigureMessage, 'spot-network', 'k8s', runNetwork, ['network']),
      step(SddcNetworkConfigureMessage, 'sddc-network', 'vm', runNetwork, ['network']),
      step(SpotVerifyMessage, 'spot-verify', 'k8s', runVerify, []),
      step(SddcVerifyMessage, 'sddc-verify', 'vm', runVerify, []),
    ]
  },
  jobs: (deps) => [
    // Idempotency keys are remembered a week, as the bus remembers messages.
    {
      name: 'forget-calls',
      everyMs: 3_600_000,
      run: async () => {
        const before = new Date(deps.clock.now().getTime() - 7 * 86_400_000)
        for (const platform of simPlatformsOf(deps).values()) await platform.forget(before)
      },
    },
    {
      name: 'health',
      everyMs: simHealthIntervalMs,
      atStart: true,
      run: async () => {
        for (const [provider, platform] of simPlatformsOf(deps)) {
          const report = await healthReport(provider, `${provider} (simulated)`, () => platform.probe(), {
            now: () => deps.clock.now(),
            intervalMs: simHealthIntervalMs,
          })
          await deps.db.transaction((tx) => deps.bus.publish(tx, report))
        }
      },
    },
    // A simulated spot price feed beside the health report: the simulations' own provider.yaml
    // files name which are spot capacity (pricing.spot).
    {
      name: 'prices',
      everyMs: simPriceIntervalMs,
      atStart: true,
      run: async () => {
        for (const file of simProviderFiles) {
          const loaded = loadProviderManifest(readFileSync(file, 'utf8'))
          const quote = loaded.ok ? simulatedQuote(loaded.value, deps.clock.now()) : undefined
          if (quote === undefined) continue
          await deps.db.transaction((tx) =>
            deps.bus.publish(tx, {
              type: 'evt.provider.prices',
              tenantId: null,
              key: quote.provider,
              data: quote,
            }),
          )
        }
      },
    },
  ],
})
export { simPriceIntervalMs, simulatedCurve, simulatedQuote } from './price-feed.ts'
export { renderVmPlan, vmRenderer } from './render-vm.ts'
export {
  createSimPlatform,
  type Operation,
  type SimFaults,
  SimFlavor,
  type SimOptions,
  type SimPlatform,
  simProviderName,
} from './sim-platform.ts'
