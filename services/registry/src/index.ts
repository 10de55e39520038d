import { WebhookKeyField } from '@rxt/contracts/webhooks'
import { defineContext, InputError } from '@rxt/kit'
import Type from 'typebox'
import { registryRoutes } from './routes.ts'
import { createRegistry, type Registry, type RegistryConfig } from './service.ts'

/** One registry per context database: routes and the purge share it (and runtimes stay apart). */
const instances = new WeakMap<object, { registry: Registry; purging?: NodeJS.Timeout }>()
const instanceOf = (deps: Parameters<typeof createRegistry>[0]) => {
  let instance = instances.get(deps.db)
  if (instance === undefined) {
    instance = { registry: createRegistry(deps) }
    instances.set(deps.db, instance)
  }
  return instance
}

/** How often deleted projects past their 30 days are looked for. */
const purgeEveryMs = 3_600_000

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
  routes: (app, deps) => registryRoutes(instanceOf(deps).registry)(app),
  handlers: (deps) => [
    {
      id: 'repo-verified',
      types: ['evt.repo.verified'],
      handle: async (message, { tx }) => {
        const { projectId } = message.data as { projectId: string }
        await instanceOf(deps).registry.repositoryVerified(tx, message.tenantId as string, projectId)
      },
    },
  ],
  start: (deps) => {
    if (deps.config.WEBHOOK_KEY === undefined) {
      throw new InputError(
        'WEBHOOK_KEY is not set: registry needs it to give projects their webhook secrets (base64url of 32 random bytes: openssl rand -base64 32 | tr "+/" "-_" | tr -d "=")',
      )
    }
    const instance = instanceOf(deps)
    const purge = () =>
      instance.registry
        .purge()
        .then((n) => {
          if (n > 0) deps.log.info({ purged: n }, 'purged projects and environments deleted over 30 days ago')
        })
        .catch((error: unknown) =>
          deps.log.warn({ err: error }, 'purge failed; it runs again within the hour'),
        )
    void purge()
    instance.purging = setInterval(purge, purgeEveryMs)
    instance.purging.unref()
  },
  stop: (deps) => {
    clearInterval(instances.get(deps.db)?.purging)
  },
})
export { createRegistry, type Registry, type RegistryConfig, retentionDays } from './service.ts'
