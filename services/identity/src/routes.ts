import {
  type ContextDeps,
  type HttpApp,
  NotFoundError,
  Permission,
  principalOf,
  problemResponses,
  tenantOf,
  WhoAmISchema,
  whoAmI,
} from '@rxt/kit'
import Type from 'typebox'
import type { Identity, IdentityConfig } from './service.ts'

const Email = Type.String({ format: 'email', maxLength: 254 })
const Password = Type.String({
  minLength: 1,
  maxLength: 1024,
  description:
    "At least 15 and at most 256 characters, counted after Unicode normalisation (NFKC). Spaces and every script are allowed and nothing is required (no digits, cases or symbols); refused: a common or breached password (also with digits or symbols around it, or repeated), only spaces, control characters, one character or a short sequence repeated, a sequence such as 123456, or the account's email, name or organisation",
})
const Name = Type.String({ minLength: 1, maxLength: 200 })
const Id = Type.String({ format: 'uuid' })
const RoleName = Type.String({
  pattern: '^[a-z][a-z0-9-]{1,39}$',
  description: 'owner, admin, developer, viewer or a custom role',
})
const Session = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds the access token lives' }),
  refreshToken: Type.String({ description: 'Single use: each refresh returns a new one' }),
})
const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
)
const OrgParams = Type.Object({ orgId: Id })
const Role = Type.Object({
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  builtin: Type.Boolean(),
})
const ApiKey = Type.Object({
  id: Id,
  name: Type.String(),
  role: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  replacedBy: Type.Union([Id, Type.Null()], {
    description:
      'The key its rotation made in its place (it works until expiresAt, its grace period); null: not rotated',
  }),
})
const ServiceCredential = Type.Object({
  id: Id,
  service: Type.String(),
  permissions: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
const errors = problemResponses
const tags = ['identity']
const publicAuth = (why: string) => ({ auth: { public: why } })
/** A public route whose body is a credential: failed attempts count against the caller's address. */
const signIn = (why: string) => ({ auth: { public: why }, signIn: true })
const permission = (p: Permission) => ({ auth: { permission: p } })
const signedIn = { auth: { authenticated: true } } as const

export function identityRoutes(identity: Identity) {
  return (app: HttpApp, _deps: ContextDeps<IdentityConfig>) => {
    app.post(
      '/auth/signup',
      {
        config: publicAuth(
          'Creates an account; the first account of an installation becomes its operator. Closed by SIGNUP_ENABLED=false.',
        ),
        schema: {
          tags,
          summary: 'Create an account and its first organisation',
          body: Type.Object(
            { email: Email, password: Password, name: Name, orgName: Name },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ userId: Id, orgId: Id, ...Session.properties }), ...errors },
        },
      },
      async (request, reply) => reply.code(201).send(await identity.signup(request.body)),
    )
    app.post(
      '/auth/login',
      {
        config: signIn('Exchanges an email and password for tokens.'),
        schema: {
          tags,
          summary: 'Sign in: an access token (15 minutes) and a refresh token (7 days)',
          body: Type.Object(
            { email: Email, password: Type.String({ minLength: 1, maxLength: 1024 }) },
            { additionalProperties: false },
          ),
          response: { 200: Session, ...errors },
        },
      },
      async (request) => identity.login(request.body.email, request.body.password),
    )
    app.post(
      '/auth/refresh',
      {
        config: signIn('The refresh token is the credential.'),
        schema: {
          tags,
          summary: 'Rotate a refresh token; presenting a used one revokes every token of that sign-in',
          body: RefreshBody,
          response: { 200: Session, ...errors },
        },
      },
      async (request) => identity.refresh(request.body.refreshToken),
    )
    app.post(
      '/auth/logout',
      {
        config: signIn('The refresh token is the credential.'),
        schema: {
          tags,
          summary: 'End this sign-in: its refresh tokens and its access tokens stop',
          body: RefreshBody,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await identity.logout(request.body.refreshToken)
        return reply.code(204).send(null)
      },
    )
    app.get(
      '/.well-known/jwks.json',
      {
        config: publicAuth('Public keys that verify access tokens.'),
        schema: {
          tags,
          summary: 'The keys that verify access tokens (JWKS)',
          response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
        },
      },
      async () => identity.tokens.jwks(),
    )
    app.get(
      '/me',
      {
        config: signedIn,
        schema: {
          tags,
          summary: 'The signed-in user and their organisations',
          response: {
            200: Type.Object({
              id: Id,
              email: Type.String(),
              name: Type.String(),
              operator: Type.Boolean(),
              orgs: Type.Array(Type.Object({ id: Id, name: Type.String(), role: Type.String() })),
            }),
            ...errors,
          },
        },
      },
      async (request) => {
        const principal = principalOf(request)
        if (principal.kind !== 'user')
          throw new NotFoundError('an API key has no user profile; GET /v1/orgs/{orgId} instead')
        return identity.me(principal)
      },
    )
    app.get(
      '/auth/whoami',
      {
        config: signedIn,
        schema: {
          tags,
          summary: 'Who the API takes the caller to be, and what it may do where (like kubectl auth whoami)',
          response: {
            200: WhoAmISchema,
            ...errors,
          },
        },
      },
      async (request) => whoAmI(principalOf(request)),
    )
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
