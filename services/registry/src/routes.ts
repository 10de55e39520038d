import type { HttpApp } from '@rxt/kit'
import { environmentRoutes } from './routes/environments.ts'
import { manifestRoutes } from './routes/manifests.ts'
import { projectRoutes } from './routes/projects.ts'
import type { Registry } from './service.ts'

/** The registry's HTTP API under /v1, by resource (one file each under routes/). */
export const registryRoutes = (registry: Registry) => (app: HttpApp) => {
  for (const group of [manifestRoutes, projectRoutes, environmentRoutes]) group(registry)(app)
}
