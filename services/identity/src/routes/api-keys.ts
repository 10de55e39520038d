import { type ContextDeps, type HttpApp, Permission, principalOf, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Identity, IdentityConfig } from '../service.ts'
import { ApiKey, errors, Id, Name, OrgParams, permission, RoleName, tags } from './schemas.ts'

/** An organisation's API keys: issue, rotate, revoke. */
export function apiKeyRoutes(identity: Identity) {
  return (app: HttpApp, _deps: ContextDeps<IdentityConfig>) => {
    app.get(
      '/orgs/:orgId/api-keys',
      {
        config: permission(Permission.apiKeysRead),
        schema: {
          tags,
          summary: "An organisation's API keys (never their secrets)",
          params: OrgParams,
          response: { 200: Type.Object({ items: Type.Array(ApiKey) }), ...errors },
        },
      },
      async (request) => ({ items: await identity.apiKeys(tenantOf(request)) }),
    )
    app.post(
      '/orgs/:orgId/api-keys',
      {
        config: { ...permission(Permission.apiKeysManage), shownOnce: true },
        schema: {
          tags,
          summary: 'Create an API key for one role in this organisation; the key is shown once',
          params: OrgParams,
          body: Type.Object(
            {
              name: Name,
              role: RoleName,
              expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              id: Id,
              name: Type.String(),
              role: Type.String(),
              expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
              key: Type.String({ description: 'Shown once: store it now' }),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) =>
        reply
          .code(201)
          .send(await identity.createApiKey(principalOf(request), tenantOf(request), request.body)),
    )
    app.post(
      '/orgs/:orgId/api-keys/:keyId/rotate',
      {
        config: { ...permission(Permission.apiKeysManage), shownOnce: true },
        schema: {
          tags,
          summary:
            'Replace an API key with a new one (shown once); the old one stops at once or after a grace period',
          description:
            'A key has one successor: a key rotated already (in its grace period) is not rotated again (409, saying until when it works and which key to rotate instead).',
          params: Type.Object({ orgId: Id, keyId: Id }),
          body: Type.Object(
            { graceHours: Type.Optional(Type.Integer({ minimum: 0, maximum: 168, default: 0 })) },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              id: Id,
              name: Type.String(),
              role: Type.String(),
              expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
              key: Type.String({ description: 'Shown once: store it now' }),
              previous: Type.Object({
                id: Id,
                validUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
                  description: 'Until when the old key still works; null: it stopped at once',
                }),
              }),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) =>
        reply
          .code(201)
          .send(
            await identity.rotateApiKey(
              principalOf(request),
              tenantOf(request),
              request.params.keyId,
              request.body.graceHours,
            ),
          ),
    )
    app.delete(
      '/orgs/:orgId/api-keys/:keyId',
      {
        config: permission(Permission.apiKeysManage),
        schema: {
          tags,
          summary: 'Revoke an API key',
          params: Type.Object({ orgId: Id, keyId: Id }),
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await identity.revokeApiKey(principalOf(request), tenantOf(request), request.params.keyId)
        return reply.code(204).send(null)
      },
    )
  }
}
