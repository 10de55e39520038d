import {
  PlacementRecommendMessage,
  ProjectUpdatedMessage,
  ProviderChangedMessage,
  ProviderHealthMessage,
  ProviderPricesMessage,
} from '@rxt/contracts'
import { defineContext, on, perContext, tenantOfMessage } from '@rxt/kit'
import { placementRoutes } from './routes.ts'
import { createPlacement } from './service.ts'

/** One placement per context database: routes and handlers share it. */
const placementOf = perContext(createPlacement)

/** Workload placement: where a deployment runs and why, from the decision matrix and the prices. */
export const placement = defineContext({
  name: 'placement',
  description:
    'Workload placement: the decision matrix, cost estimates (spot quotes), scores, stored decisions, pins',
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => placementRoutes(placementOf(deps))(app),
  handlers: (deps) => [
    // For the envelope's tenant: a payload never names whose rows a command reads and writes.
    on(PlacementRecommendMessage, { id: 'recommend' }, (data, ctx, message) =>
      placementOf(deps).recommendFor(ctx, { ...data, tenantId: tenantOfMessage(message) }),
    ),
    on(ProviderChangedMessage, { id: 'providers' }, (data, { tx }) =>
      placementOf(deps).providerChanged(tx, data),
    ),
    on(ProviderHealthMessage, { id: 'provider-health' }, (data, { tx }) =>
      placementOf(deps).healthReported(tx, data),
    ),
    on(ProviderPricesMessage, { id: 'provider-prices' }, (data, { tx }) =>
      placementOf(deps).pricesQuoted(tx, data),
    ),
    on(ProjectUpdatedMessage, { id: 'environments' }, (data, ctx, message) =>
      placementOf(deps).projectUpdated(ctx.tx, tenantOfMessage(message), data),
    ),
  ],
})
export { decisionMatrix } from './domain/decision-matrix.ts'
export { recommend } from './domain/recommend.ts'
export { createPlacement, type Placement } from './service.ts'
