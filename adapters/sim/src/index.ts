import { fileURLToPath } from 'node:url'
import type {
  SddcNetworkConfigure,
  SddcProvisionRequest,
  SpotNetworkConfigure,
  SpotProvisionRequest,
} from '@rxt/contracts'
import { defineContext, type HandlerContext, type MessageHandler, NotFoundError, perContext } from '@rxt/kit'
import {
  fromSddc,
  fromSddcNetwork,
  fromSpot,
  fromSpotNetwork,
  healthReport,
  type IComputePlatform,
  runNetwork,
  runProvision,
} from '@rxt/platform-sdk'
import Type from 'typebox'

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
  },
  // The commands meant for a simulation (by provider); the real adapters take the others.
  handlers: (deps) => {
    /** A handler of one command type, run on the simulation it names when that one speaks its family. */
    const on = <C extends { provider?: string }>(
      id: string,
      type: string,
      kind: 'k8s' | 'vm',
      run: (ctx: HandlerContext, platform: IComputePlatform, command: C, tenantId: string) => Promise<void>,
    ): MessageHandler => ({
      id,
      types: [type],
      handle: async (message, ctx) => {
        const command = message.data as C
        const platform = simPlatformsOf(deps).get(command.provider ?? '')
        if (platform === undefined || platform.kind !== kind) return
        await run(ctx, platform.within(ctx.tx), command, message.tenantId as string)
      },
    })
    return [
      on<SpotProvisionRequest>('spot-provision', 'cmd.spot.provision.request', 'k8s', async (ctx, p, c) => {
        await runProvision(ctx, p, 'rxt-spot', c, fromSpot(c))
      }),
      on<SddcProvisionRequest>('sddc-provision', 'cmd.sddc.provision.request', 'vm', async (ctx, p, c) => {
        await runProvision(ctx, p, 'sddc-flex', c, fromSddc(c))
      }),
      on<SpotNetworkConfigure>(
        'spot-network',
        'cmd.spot.network.configure',
        'k8s',
        async (ctx, p, c, tenant) => {
          await runNetwork(ctx, p, 'rxt-spot', c, tenant, fromSpotNetwork(c))
        },
      ),
      on<SddcNetworkConfigure>(
        'sddc-network',
        'cmd.sddc.network.configure',
        'vm',
        async (ctx, p, c, tenant) => {
          await runNetwork(ctx, p, 'sddc-flex', c, tenant, fromSddcNetwork(c))
        },
      ),
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
  ],
})
export {
  createSimPlatform,
  type Operation,
  type SimFaults,
  SimFlavor,
  type SimOptions,
  type SimPlatform,
  simProviderName,
} from './sim-platform.ts'
