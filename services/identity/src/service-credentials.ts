import { type ContextDeps, NotFoundError, newId, type Principal } from '@rxt/kit'
import { compose, servicePrefix, uuidPattern } from './credentials.ts'
import { refuseUnknownPermissions } from './domain/permissions.ts'
import type { IdentityConfig } from './service.ts'
import { newSecret } from './tokens.ts'

type Row = {
  id: string
  service: string
  permissions: string[]
  created_at: Date
  expires_at: Date | null
  last_used_at: Date | null
  revoked_at: Date | null
}

const view = (r: Row) => ({
  id: r.id,
  service: r.service,
  permissions: r.permissions,
  createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at?.toISOString() ?? null,
  lastUsedAt: r.last_used_at?.toISOString() ?? null,
  revokedAt: r.revoked_at?.toISOString() ?? null,
})

/**
 * Credentials for the platform's own services: one context calling another over HTTP in the
 * distributed mode presents `Authorization: Service <credential>`. Operators issue them (shown once),
 * list and revoke them; a credential acts in any organisation it names, with its permissions only.
 */
export function createServiceCredentials(
  deps: ContextDeps<IdentityConfig>,
  parts: { forget: (kind: 'service', id: string) => void },
) {
  const { db, clock } = deps
  return {
    async createServiceCredential(
      principal: Principal,
      input: { service: string; permissions: readonly string[]; expiresInDays?: number },
    ) {
      refuseUnknownPermissions(input.permissions)
      const id = newId()
      const { secret, hash } = newSecret()
      const expiresAt =
        input.expiresInDays === undefined
          ? null
          : new Date(clock.now().getTime() + input.expiresInDays * 86_400_000)
      const permissions = [...new Set(input.permissions)]
      const { rows } = await db.query<Row>(
        `INSERT INTO service_credentials (id, service, permissions, secret_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, service, permissions, created_at, expires_at, last_used_at, revoked_at`,
        [id, input.service, permissions, hash, principal.userId, expiresAt],
      )
      return { ...view(rows[0] as Row), credential: compose(servicePrefix, id, secret) }
    },

    async serviceCredentials() {
      const { rows } = await db.query<Row>(
        'SELECT id, service, permissions, created_at, expires_at, last_used_at, revoked_at FROM service_credentials ORDER BY created_at',
      )
      return rows.map(view)
    },

    /** Stops a credential at once (on this replica; within 5 seconds on the others). */
    async revokeServiceCredential(credentialId: string) {
      if (!uuidPattern.test(credentialId)) throw new NotFoundError(`no service credential ${credentialId}`)
      const { rowCount } = await db.query(
        'UPDATE service_credentials SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1',
        [credentialId],
      )
      if (rowCount === 0) throw new NotFoundError(`no service credential ${credentialId}`)
      parts.forget('service', credentialId)
    },
  }
}
