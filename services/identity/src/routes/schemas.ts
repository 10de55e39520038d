// The schemas and route options the identity routes share.
import { type Permission, problemResponses } from '@rxt/kit'
import Type from 'typebox'

export const Email = Type.String({ format: 'email', maxLength: 254 })
export const Password = Type.String({
  minLength: 1,
  maxLength: 1024,
  description:
    "At least 15 and at most 256 characters, counted after Unicode normalisation (NFKC). Spaces and every script are allowed and nothing is required (no digits, cases or symbols); refused: a common or breached password (also with digits or symbols around it, or repeated), only spaces, control characters, one character or a short sequence repeated, a sequence such as 123456, or the account's email, name or organisation",
})
export const Name = Type.String({ minLength: 1, maxLength: 200 })
export const Id = Type.String({ format: 'uuid' })
export const RoleName = Type.String({
  pattern: '^[a-z][a-z0-9-]{1,39}$',
  description: 'owner, admin, developer, viewer or a custom role',
})
export const Session = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds the access token lives' }),
  refreshToken: Type.String({ description: 'Single use: each refresh returns a new one' }),
})
export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
)
export const OrgParams = Type.Object({ orgId: Id })
export const Role = Type.Object({
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  builtin: Type.Boolean(),
})
export const ApiKey = Type.Object({
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
export const ServiceCredential = Type.Object({
  id: Id,
  service: Type.String(),
  permissions: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
export const errors = problemResponses
export const tags = ['identity']
export const publicAuth = (why: string) => ({ auth: { public: why } })
/** A public route whose body is a credential: failed attempts count against the caller's address. */
export const signIn = (why: string) => ({ auth: { public: why }, signIn: true })
export const permission = (p: Permission) => ({ auth: { permission: p } })
export const signedIn = { auth: { authenticated: true } } as const
