import { type ContextDeps, type HttpApp, Permission, principalOf, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Identity, IdentityConfig } from '../service.ts'
import { errors, Id, Name, OrgParams, permission, Role, RoleName, signedIn, tags } from './schemas.ts'

/** Organisations, their members and their roles. */
export function orgRoutes(identity: Identity) {
  return (app: HttpApp, _deps: ContextDeps<IdentityConfig>) => {
    app.post(
      '/orgs',
      {
        config: signedIn,
        schema: {
          tags,
          summary: 'Create an organisation; its creator is its owner',
          body: Type.Object({ name: Name }, { additionalProperties: false }),
          response: {
            201: Type.Object({
              id: Id,
              name: Type.String(),
              createdAt: Type.String({ format: 'date-time' }),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await identity.createOrg(principalOf(request), request.body.name)),
    )
    app.get(
      '/orgs/:orgId',
      {
        config: permission(Permission.orgRead),
        schema: {
          tags,
          summary: 'An organisation',
          params: OrgParams,
          response: {
            200: Type.Object({
              id: Id,
              name: Type.String(),
              createdAt: Type.String({ format: 'date-time' }),
              members: Type.Integer(),
            }),
            ...errors,
          },
        },
      },
      async (request) => identity.getOrg(tenantOf(request)),
    )
    app.get(
      '/orgs/:orgId/members',
      {
        config: permission(Permission.membersRead),
        schema: {
          tags,
          summary: "An organisation's members and their roles",
          params: OrgParams,
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({
                  userId: Id,
                  email: Type.String(),
                  name: Type.String(),
                  role: Type.String(),
                  since: Type.String({ format: 'date-time' }),
                }),
              ),
            }),
            ...errors,
          },
        },
      },
      async (request) => ({ items: await identity.members(tenantOf(request)) }),
    )
    app.patch(
      '/orgs/:orgId/members/:userId',
      {
        config: permission(Permission.membersManage),
        schema: {
          tags,
          summary: "Change a member's role",
          params: Type.Object({ orgId: Id, userId: Id }),
          body: Type.Object({ role: RoleName }, { additionalProperties: false }),
          response: { 200: Type.Object({ userId: Id, role: Type.String() }), ...errors },
        },
      },
      async (request) =>
        identity.changeMember(
          principalOf(request),
          tenantOf(request),
          request.params.userId,
          request.body.role,
        ),
    )
    app.delete(
      '/orgs/:orgId/members/:userId',
      {
        config: permission(Permission.membersManage),
        schema: {
          tags,
          summary: 'Remove a member',
          params: Type.Object({ orgId: Id, userId: Id }),
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await identity.removeMember(principalOf(request), tenantOf(request), request.params.userId)
        return reply.code(204).send(null)
      },
    )
    app.get(
      '/roles',
      {
        config: signedIn,
        schema: {
          tags,
          summary: 'The built-in roles, and the custom roles of the organisation named by X-RXT-Org',
          response: { 200: Type.Object({ items: Type.Array(Role) }), ...errors },
        },
      },
      async (request) => ({ items: await identity.roles(request.orgId) }),
    )
    app.post(
      '/orgs/:orgId/roles',
      {
        config: permission(Permission.rolesManage),
        schema: {
          tags,
          summary: 'Define a custom role: a named set of permissions',
          params: OrgParams,
          body: Type.Object(
            {
              name: RoleName,
              description: Type.Optional(Type.String({ maxLength: 500 })),
              permissions: Type.Array(Type.String(), { minItems: 1, maxItems: 64 }),
            },
            { additionalProperties: false },
          ),
          response: { 201: Role, ...errors },
        },
      },
      async (request, reply) =>
        reply
          .code(201)
          .send(await identity.createRole(principalOf(request), tenantOf(request), request.body)),
    )
  }
}
