import { defineContext, perContext } from '@rxt/kit'
import Type from 'typebox'
import { identityRoutes } from './routes.ts'
import { createIdentity, type IdentityConfig } from './service.ts'

const IdentityConfigSchema = Type.Object({
  SIGNUP_ENABLED: Type.Boolean({
    default: true,
    description:
      'Whether anyone may sign up; false makes the installation invite-only (its first user may always sign up)',
  }),
})

/** One identity per context database: routes, authenticator and start share it. */
const identityOf = perContext(createIdentity)

/** Organisations, users, memberships, roles, API keys and tokens; authenticates every guarded route. */
export const identity = defineContext<IdentityConfig>({
  name: 'identity',
  description:
    'Organisations (tenants), users, memberships, roles, invites, API keys, access and refresh tokens',
  config: IdentityConfigSchema,
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => identityRoutes(identityOf(deps))(app, deps),
  authenticator: (deps) => ({ authenticate: (header) => identityOf(deps).authenticate(header) }),
  start: async (deps) => {
    // A signing key exists before the first sign-in.
    await identityOf(deps).tokens.jwks()
  },
})
