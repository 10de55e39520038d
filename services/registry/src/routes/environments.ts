import { type HttpApp, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Registry } from '../service.ts'
import {
  actorOfRequest,
  Environment,
  EnvParams,
  EnvType,
  errors,
  Overrides,
  ProjectParams,
  read,
  Slug,
  tags,
  write,
} from './schemas.ts'

/** A project's environments. */
export const environmentRoutes = (registry: Registry) => (app: HttpApp) => {
  app.post(
    '/projects/:projectId/environments',
    {
      config: write,
      schema: {
        tags,
        summary: 'Add an environment to a project',
        params: ProjectParams,
        body: Type.Object(
          {
            name: Slug,
            type: EnvType,
            promotionOrder: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
            overrides: Type.Optional(Overrides),
          },
          { additionalProperties: false },
        ),
        response: { 201: Environment, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await registry.createEnvironment(
            actorOfRequest(request),
            tenantOf(request),
            request.params.projectId,
            request.body,
          ),
        ),
  )
  app.get(
    '/projects/:projectId/environments',
    {
      config: read,
      schema: {
        tags,
        summary: "A project's environments, in promotion order",
        params: ProjectParams,
        response: { 200: Type.Object({ items: Type.Array(Environment) }), ...errors },
      },
    },
    async (request) => ({ items: await registry.environments(tenantOf(request), request.params.projectId) }),
  )
  app.get(
    '/projects/:projectId/environments/:envId',
    {
      config: read,
      schema: {
        tags,
        summary: 'An environment',
        params: EnvParams,
        response: { 200: Environment, ...errors },
      },
    },
    async (request) =>
      registry.environment(tenantOf(request), request.params.projectId, request.params.envId),
  )
  app.patch(
    '/projects/:projectId/environments/:envId',
    {
      config: write,
      schema: {
        tags,
        summary: "Change an environment's type, promotion order or overrides",
        params: EnvParams,
        body: Type.Object(
          {
            type: Type.Optional(EnvType),
            promotionOrder: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
            overrides: Type.Optional(Overrides),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Environment, ...errors },
      },
    },
    async (request) =>
      registry.updateEnvironment(
        actorOfRequest(request),
        tenantOf(request),
        request.params.projectId,
        request.params.envId,
        request.body,
      ),
  )
  app.delete(
    '/projects/:projectId/environments/:envId',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete an environment (purged after 30 days)',
        params: EnvParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await registry.deleteEnvironment(
        actorOfRequest(request),
        tenantOf(request),
        request.params.projectId,
        request.params.envId,
      )
      return reply.code(204).send(null)
    },
  )
}
