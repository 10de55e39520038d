import type { ContextDeps } from '@rxt/kit'
import { createApiKeys } from './api-keys.ts'
import { createGrants } from './grants.ts'
import { createOrgs } from './orgs.ts'
import { createPrincipals } from './principals.ts'
import { createServiceCredentials } from './service-credentials.ts'
import { createSessionChecks } from './session-checks.ts'
import { createSessions } from './sessions.ts'
import { createIdentityStore } from './store.ts'
import { createTokens } from './tokens.ts'

export interface IdentityConfig {
  readonly SIGNUP_ENABLED: boolean
}

/** The identity context's parts, wired once: what its routes and its authenticator call. */
export function createIdentity(deps: ContextDeps<IdentityConfig>) {
  const store = createIdentityStore(deps.db)
  const tokens = createTokens(deps.db, deps.clock)
  const grants = createGrants(deps, store)
  const checks = createSessionChecks(deps.db)
  const principals = createPrincipals(deps, { store, tokens, grants, checks })
  const { forget } = principals
  return {
    tokens,
    authenticate: principals.authenticate,
    ...createSessions(deps, { store, tokens, grants, checks }),
    ...createOrgs(deps, { store, grants, forget }),
    ...createApiKeys(deps, { grants, forget }),
    ...createServiceCredentials(deps, { forget }),
  }
}
export type Identity = ReturnType<typeof createIdentity>
