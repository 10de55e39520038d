import { type ContextDeps, type HttpApp, Permission, principalOf, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Identity, IdentityConfig } from '../service.ts'
import { Email, errors, Id, OrgParams, permission, RoleName, signedIn, tags } from './schemas.ts'

/** Invitations to an organisation, and their acceptance. */
export function inviteRoutes(identity: Identity) {
  return (app: HttpApp, _deps: ContextDeps<IdentityConfig>) => {
    app.post(
      '/orgs/:orgId/invites',
      {
        config: { ...permission(Permission.membersManage), shownOnce: true },
        schema: {
          tags,
          summary: 'Invite someone by email; the token is single use, valid 7 days, shown once',
          params: OrgParams,
          body: Type.Object({ email: Email, role: RoleName }, { additionalProperties: false }),
          response: {
            201: Type.Object({
              id: Id,
              email: Type.String(),
              role: Type.String(),
              expiresAt: Type.String({ format: 'date-time' }),
              token: Type.String(),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await identity.invite(principalOf(request), tenantOf(request), request.body)),
    )
    app.post(
      '/invites/:token/accept',
      {
        config: { ...signedIn, secretPath: true },
        schema: {
          tags,
          summary: 'Join the organisation of an invite sent to your email',
          params: Type.Object({ token: Type.String({ maxLength: 200 }) }),
          response: { 200: Type.Object({ orgId: Id, role: Type.String() }), ...errors },
        },
      },
      async (request) => identity.acceptInvite(principalOf(request), request.params.token),
    )
  }
}
