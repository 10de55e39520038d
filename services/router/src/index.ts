import type {
  NetworkFailed,
  NetworkReady,
  ProjectUpdated,
  ProviderHealth,
  Provisioned,
  ProvisionFailed,
  RouterProvision,
} from '@rxt/contracts'
import { defineContext, perContext } from '@rxt/kit'
import Type from 'typebox'
import { routerRoutes } from './routes.ts'
import { createRouter, type RouterConfig } from './service.ts'

/** One router per context database: routes and the start share it. */
const routerOf = perContext(createRouter)

/** The provider router: the providers, the platform for a manifest and why, and what it would create. */
export const router = defineContext<RouterConfig>({
  name: 'router',
  description:
    'Compute providers (hot-pluggable), platform selection with its reasons, deploy.yaml translation',
  config: Type.Object({
    PROVIDER_FILES: Type.String({
      default: '',
      description:
        "provider.yaml files, comma-separated; each start loads them (an operator's enable/disable is kept). Empty: the ones the build's adapters offer by default (the two simulations)",
    }),
  }),
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => routerRoutes(routerOf(deps))(app),
  handlers: (deps) => [
    {
      id: 'environments',
      types: ['evt.project.updated'],
      handle: async (message, ctx) => {
        await routerOf(deps).projectUpdated(
          ctx.tx,
          message.tenantId as string,
          message.data as ProjectUpdated,
        )
      },
    },
    {
      id: 'provision',
      types: ['cmd.router.provision'],
      handle: async (message, ctx) => {
        await routerOf(deps).routing.provision(ctx, message.data as RouterProvision)
      },
    },
    {
      id: 'provision-outcomes',
      types: ['evt.provisioned', 'evt.provision.failed', 'evt.network.ready', 'evt.network.failed'],
      handle: async (message, ctx) => {
        const routing = routerOf(deps).routing
        const tenantId = message.tenantId as string
        switch (message.type) {
          case 'evt.provisioned':
            return routing.provisioned(ctx, tenantId, message.data as Provisioned)
          case 'evt.provision.failed':
            return routing.provisionFailed(ctx, tenantId, message.data as ProvisionFailed)
          case 'evt.network.ready':
            return routing.networkReady(ctx, tenantId, message.data as NetworkReady)
          default:
            return routing.networkFailed(ctx, tenantId, message.data as NetworkFailed)
        }
      },
    },
    {
      id: 'provider-health',
      types: ['evt.provider.health'],
      handle: async (message, { tx }) => {
        await routerOf(deps).healthReported(tx, message.data as ProviderHealth)
      },
    },
  ],
  start: async (deps) => {
    const loaded = await routerOf(deps).load()
    deps.log.info({ providers: loaded }, 'loaded provider.yaml files')
  },
})
export { createRouter, type Router, type RouterConfig } from './service.ts'
