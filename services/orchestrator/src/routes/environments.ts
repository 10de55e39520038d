import { type HttpApp, tenantOf } from '@rxt/kit'
import type { Deployments } from '../deployments.ts'
import {
  DeploymentWithSteps,
  DestroyBody,
  EnvParams,
  errors,
  PromoteBody,
  requestBy,
  tags,
  write,
} from './schemas.ts'

/** An environment's promotion and destruction. */
export const environmentRoutes = (deployments: Deployments) => (app: HttpApp) => {
  app.post(
    '/environments/:envId/promote',
    {
      config: write,
      schema: {
        tags,
        summary:
          "Promote to this environment exactly what is healthy in another of its project (the artifact and manifest digests of that environment's current deployment, with this environment's overrides); 409 when the source runs nothing ready",
        params: EnvParams,
        body: PromoteBody,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await deployments.promote(
            tenantOf(request),
            request.params.envId,
            request.body.from,
            requestBy(request),
          ),
        ),
  )
  app.post(
    '/environments/:envId/destroy',
    {
      config: write,
      schema: {
        tags,
        summary:
          "Destroy an environment on its provider: everything it runs goes. `confirm` must be the environment's name; refused while one of its deployments runs or waits",
        params: EnvParams,
        body: DestroyBody,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await deployments.destroy(
            tenantOf(request),
            request.params.envId,
            request.body.confirm,
            requestBy(request),
          ),
        ),
  )
}
