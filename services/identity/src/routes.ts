import type { ContextDeps, HttpApp } from '@rxt/kit'
import { adminRoutes } from './routes/admin.ts'
import { apiKeyRoutes } from './routes/api-keys.ts'
import { authRoutes } from './routes/auth.ts'
import { inviteRoutes } from './routes/invites.ts'
import { orgRoutes } from './routes/orgs.ts'
import type { Identity, IdentityConfig } from './service.ts'

/** Every identity route, by resource (one file each under routes/), in the order the document lists them. */
export function identityRoutes(identity: Identity) {
  const groups = [authRoutes, orgRoutes, apiKeyRoutes, inviteRoutes, adminRoutes].map((group) =>
    group(identity),
  )
  return (app: HttpApp, deps: ContextDeps<IdentityConfig>) => {
    for (const register of groups) register(app, deps)
  }
}
