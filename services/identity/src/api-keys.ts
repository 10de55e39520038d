import { ConflictError, type ContextDeps, NotFoundError, newId, type Principal } from '@rxt/kit'
import { apiKeyPrefix, compose, uuidPattern } from './credentials.ts'
import type { Grants } from './grants.ts'
import type { IdentityConfig } from './service.ts'
import { newSecret } from './tokens.ts'

/** An organisation's API keys: created (shown once), listed, rotated, revoked. */
export function createApiKeys(
  deps: ContextDeps<IdentityConfig>,
  parts: { grants: Grants; forget: (kind: 'user' | 'key', id: string) => void },
) {
  const { db, clock } = deps
  const { forget } = parts
  const { accessChanged, requireRole, withinOwn } = parts.grants

  return {
    async createApiKey(
      principal: Principal,
      orgId: string,
      input: { name: string; role: string; expiresInDays?: number },
    ) {
      const id = newId()
      const { secret, hash } = newSecret()
      return db.withTenant(orgId, async (tx) => {
        withinOwn(principal, orgId, `a key with role ${input.role}`, await requireRole(tx, input.role))
        const expiresAt =
          input.expiresInDays === undefined
            ? null
            : new Date(clock.now().getTime() + input.expiresInDays * 86_400_000)
        await tx.query(
          'INSERT INTO api_keys (id, org_id, name, role, secret_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [id, orgId, input.name, input.role, hash, principal.userId, expiresAt],
        )
        await tx.query('INSERT INTO api_key_orgs (key_id, org_id) VALUES ($1, $2)', [id, orgId])
        await accessChanged(tx, orgId, { kind: 'service-account', id }, 'granted', input.role, principal.id)
        return {
          id,
          name: input.name,
          role: input.role,
          expiresAt: expiresAt?.toISOString() ?? null,
          key: compose(apiKeyPrefix, id, secret),
        }
      })
    },

    async apiKeys(orgId: string) {
      const { rows } = await db.withTenant(orgId, (tx) =>
        tx.query<{
          id: string
          name: string
          role: string
          created_at: Date
          expires_at: Date | null
          last_used_at: Date | null
          revoked_at: Date | null
          replaced_by: string | null
        }>(
          'SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at, replaced_by FROM api_keys ORDER BY created_at',
        ),
      )
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        role: r.role,
        createdAt: r.created_at.toISOString(),
        expiresAt: r.expires_at?.toISOString() ?? null,
        lastUsedAt: r.last_used_at?.toISOString() ?? null,
        revokedAt: r.revoked_at?.toISOString() ?? null,
        replacedBy: r.replaced_by,
      }))
    },

    /**
     * Replaces a key with a new one of the same name and role (shown once); the old one stops working
     * at once, or after `graceHours` so that deployments can switch over. A key has one successor: one
     * in its grace period is not rotated again (409, saying until when it works and what to rotate).
     */
    async rotateApiKey(principal: Principal, orgId: string, keyId: string, graceHours = 0) {
      if (!uuidPattern.test(keyId)) throw new NotFoundError(`no API key ${keyId}`)
      const id = newId()
      const { secret, hash } = newSecret()
      return db.withTenant(orgId, async (tx) => {
        // Locked: of two rotations at once, the second sees the first one's successor.
        const old = (
          await tx.query<{
            name: string
            role: string
            expires_at: Date | null
            replaced_by: string | null
          }>(
            'SELECT name, role, expires_at, replaced_by FROM api_keys WHERE id = $1 AND revoked_at IS NULL FOR UPDATE',
            [keyId],
          )
        ).rows[0]
        if (old === undefined) throw new NotFoundError(`no active API key ${keyId}`)
        // An expired key is no key: its successor would be born expired, or outlive what it replaced.
        if (old.expires_at !== null && old.expires_at.getTime() <= clock.now().getTime()) {
          throw new NotFoundError(
            `no active API key ${keyId}: it expired at ${old.expires_at.toISOString()}; create a new one`,
          )
        }
        if (old.replaced_by !== null) {
          throw new ConflictError(
            `API key ${keyId} was rotated already: it works until ${old.expires_at?.toISOString()}, the end of its grace period, and its successor is ${old.replaced_by}. Rotate ${old.replaced_by} instead, or revoke ${keyId} to stop it now`,
          )
        }
        withinOwn(principal, orgId, `a key with role ${old.role}`, await requireRole(tx, old.role))
        await tx.query(
          'INSERT INTO api_keys (id, org_id, name, role, secret_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [id, orgId, old.name, old.role, hash, principal.userId, old.expires_at],
        )
        await tx.query('INSERT INTO api_key_orgs (key_id, org_id) VALUES ($1, $2)', [id, orgId])
        // The grace period ends when it says, or when the key was to expire anyway if that is sooner.
        const graceEnd = new Date(clock.now().getTime() + graceHours * 3_600_000)
        const until = old.expires_at !== null && old.expires_at < graceEnd ? old.expires_at : graceEnd
        await tx.query(
          graceHours === 0
            ? 'UPDATE api_keys SET revoked_at = now(), replaced_by = $2 WHERE id = $1'
            : 'UPDATE api_keys SET expires_at = $3, replaced_by = $2 WHERE id = $1',
          graceHours === 0 ? [keyId, id] : [keyId, id, until],
        )
        tx.afterCommit(() => forget('key', keyId))
        await accessChanged(tx, orgId, { kind: 'service-account', id }, 'granted', old.role, principal.id)
        await accessChanged(
          tx,
          orgId,
          { kind: 'service-account', id: keyId },
          'revoked',
          old.role,
          principal.id,
        )
        return {
          id,
          name: old.name,
          role: old.role,
          expiresAt: old.expires_at?.toISOString() ?? null,
          key: compose(apiKeyPrefix, id, secret),
          previous: { id: keyId, validUntil: graceHours === 0 ? null : until.toISOString() },
        }
      })
    },

    async revokeApiKey(principal: Principal, orgId: string, keyId: string) {
      if (!uuidPattern.test(keyId)) throw new NotFoundError(`no API key ${keyId}`)
      await db.withTenant(orgId, async (tx) => {
        const { rows } = await tx.query<{ role: string }>(
          'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING role',
          [keyId],
        )
        if (rows[0] === undefined) throw new NotFoundError(`no active API key ${keyId}`)
        tx.afterCommit(() => forget('key', keyId))
        await accessChanged(
          tx,
          orgId,
          { kind: 'service-account', id: keyId },
          'revoked',
          rows[0].role,
          principal.id,
        )
      })
    },
  }
}
