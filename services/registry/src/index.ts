import { CommitPushedMessage, ImagePublishedMessage, RepoVerifiedMessage } from '@rxt/contracts'
import { WebhookKeyField } from '@rxt/contracts/webhooks'
import { defineContext, InputError, on, perContext, tenantOfMessage } from '@rxt/kit'
import Type from 'typebox'
import { registryRoutes } from './routes.ts'
import { createRegistry, type RegistryConfig } from './service.ts'

/** One registry per context database: routes, handlers and the purge share it. */
const registryOf = perContext(createRegistry)

const RegistryConfigSchema = Type.Object({
  WEBHOOK_KEY: WebhookKeyField,
  PUBLIC_URL: Type.String({
    pattern: '^https?://',
    default: 'http://localhost:8080',
    description:
      'The URL this installation is reached at from outside (https://deploy.example.com): webhook URLs point at it',
  }),
})

/** Projects, environments and content-addressed deploy.yaml manifests. */
export const registry = defineContext<RegistryConfig>({
  name: 'registry',
  description: 'Projects, environments, and deploy.yaml manifests stored by digest',
  config: RegistryConfigSchema,
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => registryRoutes(registryOf(deps))(app),
  handlers: (deps) => [
    // A webhook ping reached vcs (the consumer is registry.repo-verified).
    on(RepoVerifiedMessage, (data, { tx }, message) =>
      registryOf(deps).repositoryVerified(tx, tenantOfMessage(message), data.projectId, data.repo),
    ),
    // CI built a commit of a deploy branch: its environments are deployed (the consumer is registry.image-published).
    on(ImagePublishedMessage, async (data, ctx, message) => {
      const sent = await registryOf(deps).imagePublished(ctx, tenantOfMessage(message), data)
      if (sent > 0)
        ctx.log.info(
          { projectId: data.projectId, image: data.image, environments: sent },
          'deploys requested',
        )
    }),
    // A push to a deploy branch of a project with no CI: the image its manifests name is deployed.
    on(CommitPushedMessage, async (data, ctx, message) => {
      const sent = await registryOf(deps).commitPushed(ctx, tenantOfMessage(message), data)
      if (sent > 0)
        ctx.log.info(
          { projectId: data.projectId, commitSha: data.commitSha, environments: sent },
          'deploys of fixed images requested',
        )
    }),
  ],
  start: (deps) => {
    if (deps.config.WEBHOOK_KEY === undefined) {
      throw new InputError(
        'WEBHOOK_KEY is not set: registry needs it to give projects their webhook secrets (base64url of 32 random bytes: openssl rand -base64 32 | tr "+/" "-_" | tr -d "=")',
      )
    }
  },
  // Deleted projects and environments past their 30 days go within the hour.
  jobs: (deps) => [
    {
      name: 'purge',
      everyMs: 3_600_000,
      run: async () => {
        const purged = await registryOf(deps).purge()
        if (purged > 0) deps.log.info({ purged }, 'purged projects and environments deleted over 30 days ago')
      },
    },
  ],
})
export { createRegistry, type Registry, type RegistryConfig, retentionDays } from './service.ts'
