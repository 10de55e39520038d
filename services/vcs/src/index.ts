import { ProjectCreatedMessage, ProjectUpdatedMessage } from '@rxt/contracts'
import { WebhookKeyField } from '@rxt/contracts/webhooks'
import { assertNever, defineContext, InputError, on, perContext, tenantOfMessage } from '@rxt/kit'
import Type from 'typebox'
import { routeOfCreated, routeOfUpdate } from './project-routes.ts'
import { vcsRoutes } from './routes.ts'
import { createVcs, type VcsConfig } from './service.ts'

/** One vcs per context database: routes, handlers and jobs share it. */
const vcsOf = perContext(createVcs)

/** GitHub webhooks: deliveries checked, kept and turned into events. */
export const vcs = defineContext<VcsConfig>({
  name: 'vcs',
  description: 'GitHub webhooks: signatures, deliveries, pushes and pull requests',
  config: Type.Object({ WEBHOOK_KEY: WebhookKeyField }),
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => vcsRoutes(vcsOf(deps))(app),
  handlers: (deps) => [
    on([ProjectCreatedMessage, ProjectUpdatedMessage], { id: 'project-routes' }, async (message, { tx }) => {
      const orgId = tenantOfMessage(message)
      switch (message.type) {
        case ProjectCreatedMessage.type:
          return vcsOf(deps).projectChanged(tx, routeOfCreated(orgId, message.data))
        case ProjectUpdatedMessage.type:
          return vcsOf(deps).projectChanged(tx, routeOfUpdate(orgId, message.data))
        default:
          return assertNever(message)
      }
    }),
  ],
  // Deliveries beyond each project's newest 1,000 go every 10 minutes, not in each delivery's transaction.
  jobs: (deps) => [{ name: 'prune-deliveries', everyMs: 600_000, run: () => vcsOf(deps).prune() }],
  start: (deps) => {
    if (deps.config.WEBHOOK_KEY === undefined) {
      throw new InputError(
        'WEBHOOK_KEY is not set: vcs needs it to check the signatures of webhook deliveries',
      )
    }
  },
})
export { createVcs, type Vcs } from './service.ts'
