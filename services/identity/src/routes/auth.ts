import { type ContextDeps, type HttpApp, NotFoundError, principalOf, WhoAmISchema, whoAmI } from '@rxt/kit'
import Type from 'typebox'
import type { Identity, IdentityConfig } from '../service.ts'
import {
  Email,
  errors,
  Id,
  Name,
  Password,
  publicAuth,
  RefreshBody,
  Session,
  signedIn,
  signIn,
  tags,
} from './schemas.ts'

/** Sign-up, sign-in, refresh and sign-out, the signing keys, and who the caller is. */
export function authRoutes(identity: Identity) {
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
  }
}
