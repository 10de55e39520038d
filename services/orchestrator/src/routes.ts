import type { HttpApp } from '@rxt/kit'
import type { Deployments } from './deployments.ts'
import { deploymentRoutes } from './routes/deployments.ts'
import { environmentRoutes } from './routes/environments.ts'
import { workflowRoutes } from './routes/workflows.ts'

/** The orchestrator's HTTP API under /v1, tenant-scoped, by resource (one file each under routes/). */
export const orchestratorRoutes = (deployments: Deployments) => (app: HttpApp) => {
  for (const group of [deploymentRoutes, environmentRoutes, workflowRoutes]) group(deployments)(app)
}
