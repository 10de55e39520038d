import { ProjectUpdatedMessage, ProviderHealthMessage, RouterPlanMessage } from '@rxt/contracts'
import { defineContext, on, perContext, tenantOfMessage } from '@rxt/kit'
import Type from 'typebox'
import { routerRoutes } from './routes.ts'
import { createRouter, type RouterConfig } from './service.ts'

/** One router per context database: routes and the start share it. */
const routerOf = perContext(createRouter)

/** The provider router: the providers, the plan on a provider, and what it would create there. */
export const router = defineContext<RouterConfig>({
  name: 'router',
  description:
    'Compute providers (hot-pluggable), the deploy plan on the provider placement chose, deploy.yaml translation',
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
    on(ProjectUpdatedMessage, { id: 'environments' }, (data, ctx, message) =>
      routerOf(deps).projectUpdated(ctx.tx, tenantOfMessage(message), data),
    ),
    // For the envelope's tenant: a payload never names whose rows a command reads and writes.
    on(RouterPlanMessage, { id: 'plan' }, (data, ctx, message) =>
      routerOf(deps).routing.plan(ctx, { ...data, tenantId: tenantOfMessage(message) }),
    ),
    on(ProviderHealthMessage, { id: 'provider-health' }, (data, { tx }) =>
      routerOf(deps).healthReported(tx, data),
    ),
  ],
  ready: async (deps) => {
    const loaded = await routerOf(deps).load()
    deps.log.info({ providers: loaded }, 'loaded provider.yaml files')
  },
})
export { createRouter, type Router, type RouterConfig } from './service.ts'
