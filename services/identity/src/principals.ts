import {
  AuthenticationError,
  builtinRoles,
  type ContextDeps,
  isBuiltinRole,
  isPermission,
  isServicePermission,
  lazyCache,
  type Principal,
} from '@rxt/kit'
import { apiKeyPrefix, parse, servicePrefix } from './credentials.ts'
import type { Grants } from './grants.ts'
import type { IdentityConfig } from './service.ts'
import type { SessionChecks } from './session-checks.ts'
import type { IdentityStore } from './store.ts'
import { sameHash, sha256, type Tokens } from './tokens.ts'

/** How long a principal read from the database is used, at most (other replicas' changes take that long). */
export const principalTtlMs = 5_000
/** How old a user's principal is when a request that uses it reads it again in the background. */
export const principalRefreshAfterMs = 3_000

/** The authenticator: a Bearer token or an API key to a principal, cached and dropped on every change. */
export function createPrincipals(
  deps: ContextDeps<IdentityConfig>,
  parts: { store: IdentityStore; tokens: Tokens; grants: Grants; checks: SessionChecks },
) {
  const { db, clock } = deps
  const { store, tokens, checks } = parts
  const { permissionsOfRole } = parts.grants
  /**
   * Who a user or key is, as read from the database less than `principalTtlMs` ago (a user in use is
   * read again after `principalRefreshAfterMs`): a change made through this process drops the entry at
   * once; other replicas see it within `principalTtlMs`.
   */
  const principals = lazyCache<string, Principal>({ max: 50_000, ttl: principalTtlMs })
  const keyHashes = new Map<string, { hash: Buffer; expiresAt: number | null }>()
  /**
   * Bumped by every change: a load that started before a change does not put what it read in the
   * cache after the change dropped it.
   */
  const generations = lazyCache<string, number>({ max: 50_000 })
  const forget = (kind: 'user' | 'key' | 'service', id: string) => {
    const drop = (key: string) => {
      principals.delete(key)
      generations.set(key, (generations.get(key) ?? 0) + 1)
    }
    drop(`${kind}:${id}`)
    if (kind !== 'user') keyHashes.delete(id)
    // The keys a user made act within the user's rights: they change with them.
    if (kind === 'user')
      for (const [key, p] of principals.entries()) if (p.kind === 'api-key' && p.userId === id) drop(key)
  }
  /** Loads into the cache unless a change came in meanwhile. */
  const cached = async (key: string, load: () => Promise<Principal>): Promise<Principal> => {
    const hit = principals.get(key)
    if (hit !== undefined) return hit
    const generation = generations.get(key) ?? 0
    const principal = await load()
    if ((generations.get(key) ?? 0) === generation) principals.set(key, principal)
    return principal
  }
  /** When each key's last use was last written: at most once a minute, off the request's path. */
  const lastUseWritten = lazyCache<string, true>({ max: 50_000, ttl: 60_000 })

  const loadUser = async (userId: string): Promise<Principal> =>
    store.asUser(userId, async (tx) => {
      const user = await store.userById(userId, tx)
      if (user === undefined) throw new AuthenticationError('the account no longer exists')
      const rows = await store.membershipsOf(tx, userId)
      return {
        kind: 'user',
        id: userId,
        userId,
        operator: user.operator,
        orgs: new Map(
          rows.map((r) => [
            r.org_id,
            {
              role: r.role,
              permissions: isBuiltinRole(r.role)
                ? builtinRoles[r.role]
                : // A role never holds a service-only permission, even one stored before the rule.
                  (r.custom_permissions ?? []).filter(isPermission).filter((p) => !isServicePermission(p)),
            },
          ]),
        ),
      }
    })

  /** The user principals being read again ahead of their expiry. */
  const refreshing = new Set<string>()
  /**
   * Reads a cached user again in the background, unless a change came in meanwhile: what it read then
   * replaces the entry; an account that no longer exists drops it (the next request fails); a failed
   * read leaves the entry to expire.
   */
  const refresh = (key: string, load: () => Promise<Principal>) => {
    if (refreshing.has(key)) return
    refreshing.add(key)
    const generation = generations.get(key) ?? 0
    const unchanged = () => (generations.get(key) ?? 0) === generation
    load()
      .then(
        (principal) => {
          if (unchanged()) principals.set(key, principal)
        },
        (error: unknown) => {
          if (error instanceof AuthenticationError && unchanged()) principals.delete(key)
        },
      )
      .finally(() => refreshing.delete(key))
  }

  /**
   * A user in use is read again once its entry is `principalRefreshAfterMs` old, so that its requests
   * do not wait on the database when the entry would expire; an entry is never used past its TTL.
   * (Keys and service credentials are not: their loads record a last use.)
   */
  const principalOfUser = (userId: string): Promise<Principal> => {
    const key = `user:${userId}`
    const hit = principals.get(key)
    if (hit === undefined) return cached(key, () => loadUser(userId))
    if (principals.getRemainingTTL(key) <= principalTtlMs - principalRefreshAfterMs)
      refresh(key, () => loadUser(userId))
    return Promise.resolve(hit)
  }

  /** A cached key or service credential, when the secret presented is its secret and it has not expired. */
  const hitFor = (cacheKey: string, parsed: { id: string; secret: string }, what: string) => {
    const hit = principals.get(cacheKey)
    const known = keyHashes.get(parsed.id)
    if (hit === undefined || known === undefined) return undefined
    if (!sameHash(known.hash, sha256(parsed.secret)))
      throw new AuthenticationError(`the ${what} is not valid`)
    if (known.expiresAt !== null && known.expiresAt <= clock.now().getTime()) {
      throw new AuthenticationError(`the ${what} has expired`)
    }
    return hit
  }

  const principalOfKey = async (value: string): Promise<Principal> => {
    const parsed = parse(apiKeyPrefix, value)
    if (parsed === undefined) throw new AuthenticationError('the API key is malformed')
    const hit = hitFor(`key:${parsed.id}`, parsed, 'API key')
    if (hit !== undefined) {
      touch(hit)
      return hit
    }
    return cached(`key:${parsed.id}`, () => loadKey(parsed))
  }

  const principalOfService = async (value: string): Promise<Principal> => {
    const parsed = parse(servicePrefix, value)
    if (parsed === undefined) throw new AuthenticationError('the service credential is malformed')
    return (
      hitFor(`service:${parsed.id}`, parsed, 'service credential') ??
      cached(`service:${parsed.id}`, () => loadService(parsed))
    )
  }

  const loadService = async (parsed: { id: string; secret: string }): Promise<Principal> => {
    const row = (
      await db.query<{
        service: string
        permissions: string[]
        secret_hash: Buffer
        expires_at: Date | null
        revoked_at: Date | null
      }>(
        'SELECT service, permissions, secret_hash, expires_at, revoked_at FROM service_credentials WHERE id = $1',
        [parsed.id],
      )
    ).rows[0]
    if (row === undefined || !sameHash(row.secret_hash, sha256(parsed.secret))) {
      throw new AuthenticationError('the service credential is not valid')
    }
    if (row.revoked_at !== null) throw new AuthenticationError('the service credential was revoked')
    if (row.expires_at !== null && row.expires_at.getTime() <= clock.now().getTime()) {
      throw new AuthenticationError('the service credential has expired')
    }
    keyHashes.set(parsed.id, { hash: row.secret_hash, expiresAt: row.expires_at?.getTime() ?? null })
    if (!lastUseWritten.has(parsed.id)) {
      lastUseWritten.set(parsed.id, true)
      await db.query('UPDATE service_credentials SET last_used_at = now() WHERE id = $1', [parsed.id])
    }
    return {
      kind: 'service',
      id: row.service,
      userId: undefined,
      operator: false,
      orgs: new Map(),
      everyOrg: { role: 'service', permissions: row.permissions.filter(isPermission) },
    }
  }

  const touch = (principal: Principal) => {
    const orgId = principal.orgs.keys().next().value as string
    if (lastUseWritten.has(principal.id)) return
    lastUseWritten.set(principal.id, true)
    void db
      .withTenant(orgId, (tx) =>
        tx.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [principal.id]),
      )
      .catch((error: unknown) =>
        deps.log.warn({ err: error, keyId: principal.id }, 'last use of an API key not recorded'),
      )
  }

  const loadKey = async (parsed: { id: string; secret: string }): Promise<Principal> => {
    const org = (
      await db.query<{ org_id: string }>('SELECT org_id FROM api_key_orgs WHERE key_id = $1', [parsed.id])
    ).rows[0]
    if (org === undefined) throw new AuthenticationError('the API key is not valid')
    return db.withTenant(org.org_id, async (tx) => {
      const key = (
        await tx.query<{
          id: string
          role: string
          secret_hash: Buffer
          expires_at: Date | null
          revoked_at: Date | null
          created_by: string
        }>('SELECT id, role, secret_hash, expires_at, revoked_at, created_by FROM api_keys WHERE id = $1', [
          parsed.id,
        ])
      ).rows[0]
      if (key === undefined || !sameHash(key.secret_hash, sha256(parsed.secret))) {
        throw new AuthenticationError('the API key is not valid')
      }
      if (key.revoked_at !== null) throw new AuthenticationError('the API key was revoked')
      if (key.expires_at !== null && key.expires_at.getTime() <= clock.now().getTime()) {
        throw new AuthenticationError('the API key has expired')
      }
      // A key never does more than its creator may still do: one whose creator left does nothing.
      const creator = (
        await tx.query<{ role: string }>('SELECT role FROM memberships WHERE user_id = $1', [key.created_by])
      ).rows[0]
      if (creator === undefined) {
        throw new AuthenticationError("the API key's creator is no longer a member of its organisation")
      }
      const creatorMay = (await permissionsOfRole(tx, creator.role)) ?? []
      const keyMay = ((await permissionsOfRole(tx, key.role)) ?? []).filter((p) => creatorMay.includes(p))
      keyHashes.set(key.id, { hash: key.secret_hash, expiresAt: key.expires_at?.getTime() ?? null })
      lastUseWritten.set(key.id, true)
      await tx.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [key.id])
      return {
        kind: 'api-key',
        id: key.id,
        userId: key.created_by,
        operator: false,
        orgs: new Map([[org.org_id, { role: key.role, permissions: keyMay }]]),
      }
    })
  }

  return {
    forget,
    async authenticate(header: string): Promise<Principal> {
      const [scheme, value, ...rest] = header.trim().split(/\s+/)
      if (value === undefined || rest.length > 0) {
        throw new AuthenticationError(
          'the Authorization header must be "Bearer <token>", "ApiKey <key>" or "Service <credential>"',
        )
      }
      if (scheme?.toLowerCase() === 'bearer') {
        const { userId, sessionId } = await tokens.verify(value)
        await checks.requireLive(sessionId, userId)
        return principalOfUser(userId)
      }
      if (scheme?.toLowerCase() === 'apikey') return principalOfKey(value)
      if (scheme?.toLowerCase() === 'service') return principalOfService(value)
      throw new AuthenticationError(
        `unsupported authorization scheme ${scheme}; use Bearer, ApiKey or Service`,
      )
    },
  }
}
export type Principals = ReturnType<typeof createPrincipals>
