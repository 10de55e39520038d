import { defineContext } from '@rxt/kit'
import { registryRoutes } from './routes.ts'
import { createRegistry, type Registry } from './service.ts'

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

/** Projects, environments and content-addressed deploy.yaml manifests. */
export const registry = defineContext({
  name: 'registry',
  description: 'Projects, environments, and deploy.yaml manifests stored by digest',
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => registryRoutes(instanceOf(deps).registry)(app),
  start: (deps) => {
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
export { createRegistry, type Registry, retentionDays } from './service.ts'
