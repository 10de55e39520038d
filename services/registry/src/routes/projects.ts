import { type HttpApp, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import { projectInput } from '../project-input.ts'
import type { Registry } from '../service.ts'
import {
  actorOfRequest,
  errors,
  Project,
  ProjectFields,
  ProjectParams,
  read,
  tags,
  Webhook,
  write,
} from './schemas.ts'

/** Projects: create, read, update, delete, restore, their webhook secret, and the purge of deleted ones. */
export const projectRoutes = (registry: Registry) => (app: HttpApp) => {
  app.post(
    '/admin/registry/purge',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary: 'Purge now what was deleted over 30 days ago (it runs every hour by itself)',
        response: { 200: Type.Object({ purged: Type.Integer() }), ...errors },
      },
    },
    async () => ({ purged: await registry.purge() }),
  )
  app.post(
    '/projects',
    {
      config: { ...write, shownOnce: true },
      schema: {
        tags,
        summary: 'Create a project',
        body: Type.Object(
          {
            slug: ProjectFields.slug,
            name: ProjectFields.name,
            repository: Type.Optional(ProjectFields.repository),
            repositoryUrl: Type.Optional(ProjectFields.repositoryUrl),
            defaultBranch: Type.Optional(ProjectFields.defaultBranch),
            deployBranches: Type.Optional(ProjectFields.deployBranches),
            deployTags: Type.Optional(ProjectFields.deployTags),
            reportBranchDeletions: Type.Optional(ProjectFields.reportBranchDeletions),
            ci: Type.Optional(ProjectFields.ci),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ ...Project.properties, webhook: Webhook }), ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await registry.createProject(
            actorOfRequest(request),
            tenantOf(request),
            projectInput(request.body),
          ),
        ),
  )
  app.get(
    '/projects',
    {
      config: read,
      schema: {
        tags,
        summary: "The organisation's projects; deleted ones (restorable for 30 days) with includeDeleted",
        querystring: Type.Object({ includeDeleted: Type.Optional(Type.Boolean({ default: false })) }),
        response: { 200: Type.Object({ items: Type.Array(Project) }), ...errors },
      },
    },
    async (request) => ({ items: await registry.projects(tenantOf(request), request.query.includeDeleted) }),
  )
  app.get(
    '/projects/:projectId',
    {
      config: read,
      schema: { tags, summary: 'A project', params: ProjectParams, response: { 200: Project, ...errors } },
    },
    async (request) => registry.project(tenantOf(request), request.params.projectId),
  )
  app.patch(
    '/projects/:projectId',
    {
      config: write,
      schema: {
        tags,
        summary: 'Change a project',
        params: ProjectParams,
        body: Type.Partial(Type.Object(ProjectFields), { additionalProperties: false, minProperties: 1 }),
        response: { 200: Project, ...errors },
      },
    },
    async (request) =>
      registry.updateProject(
        actorOfRequest(request),
        tenantOf(request),
        request.params.projectId,
        projectInput(request.body),
      ),
  )
  app.delete(
    '/projects/:projectId',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete a project and its environments; restorable for 30 days, then purged',
        params: ProjectParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await registry.deleteProject(actorOfRequest(request), tenantOf(request), request.params.projectId)
      return reply.code(204).send(null)
    },
  )
  app.post(
    '/projects/:projectId/webhook/rotate',
    {
      config: { ...write, shownOnce: true },
      schema: {
        tags,
        summary: 'A new webhook secret for the project (shown once); the old one stops verifying at once',
        params: ProjectParams,
        response: { 200: Webhook, ...errors },
      },
    },
    async (request) =>
      registry.rotateWebhook(actorOfRequest(request), tenantOf(request), request.params.projectId),
  )
  app.post(
    '/projects/:projectId/restore',
    {
      config: write,
      schema: {
        tags,
        summary: 'Restore a deleted project, with the environments deleted with it',
        params: ProjectParams,
        response: { 200: Project, ...errors },
      },
    },
    async (request) =>
      registry.restoreProject(actorOfRequest(request), tenantOf(request), request.params.projectId),
  )
}
