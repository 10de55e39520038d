import { type ContextDeps, type HttpApp, principalOf } from '@rxt/kit'
import Type from 'typebox'
import type { Identity, IdentityConfig } from '../service.ts'
import { errors, Id, ServiceCredential, tags } from './schemas.ts'

/** The operator's routes: signing-key rotation and service credentials. */
export function adminRoutes(identity: Identity) {
  return (app: HttpApp, _deps: ContextDeps<IdentityConfig>) => {
    app.post(
      '/admin/signing-keys/rotate',
      {
        config: { auth: { operator: true } },
        schema: {
          tags,
          summary: 'Start signing with a new key; the old one verifies tokens until they expire',
          response: { 200: Type.Object({ kid: Type.String() }), ...errors },
        },
      },
      async () => ({ kid: await identity.tokens.rotate() }),
    )
    const operator = { auth: { operator: true } } as const
    app.post(
      '/admin/service-credentials',
      {
        config: { ...operator, shownOnce: true },
        schema: {
          tags,
          summary:
            "Issue a credential for one of the platform's services (shown once): it acts in any organisation it names, with these permissions only",
          body: Type.Object(
            {
              service: Type.String({
                pattern: '^[a-z][a-z0-9-]{1,39}$',
                description: 'The context that will present it, e.g. deployer',
              }),
              permissions: Type.Array(Type.String(), { minItems: 1, maxItems: 64 }),
              expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              ...ServiceCredential.properties,
              credential: Type.String({ description: 'Shown once: `Authorization: Service <credential>`' }),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await identity.createServiceCredential(principalOf(request), request.body)),
    )
    app.get(
      '/admin/service-credentials',
      {
        config: operator,
        schema: {
          tags,
          summary: 'The service credentials issued, without their secrets',
          response: { 200: Type.Object({ items: Type.Array(ServiceCredential) }), ...errors },
        },
      },
      async () => ({ items: await identity.serviceCredentials() }),
    )
    app.delete(
      '/admin/service-credentials/:credentialId',
      {
        config: operator,
        schema: {
          tags,
          summary: 'Revoke a service credential: it stops at once',
          params: Type.Object({ credentialId: Id }),
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await identity.revokeServiceCredential(request.params.credentialId)
        return reply.code(204).send(null)
      },
    )
  }
}
