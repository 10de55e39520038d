import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2'
import {
  AuthenticationError,
  builtinRoles,
  ConflictError,
  type ContextDeps,
  InputError,
  isBuiltinRole,
  isPermission,
  NotAllowedError,
  NotFoundError,
  newId,
  type Permission,
  type Principal,
  type Transaction,
} from '@rxt/kit'
import { LRUCache } from 'lru-cache'
import { createIdentityStore } from './store.ts'
import { createTokens, newSecret, refreshTokenTtlSeconds, sameHash, sha256 } from './tokens.ts'

export interface IdentityConfig {
  readonly SIGNUP_ENABLED: boolean
}

// argon2id, OWASP's minimum (19 MiB, 2 passes).
const argon = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const
const inviteTtlMs = 7 * 24 * 3_600_000
const apiKeyPrefix = 'rxtk'
const refreshPrefix = 'rxtr'
const invitePrefix = 'rxti'
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** `<prefix>_<id without dashes>_<secret>`: the id finds the row, the secret proves possession. */
const compose = (prefix: string, id: string, secret: string) =>
  `${prefix}_${id.replaceAll('-', '')}_${secret}`
function parse(prefix: string, value: string): { id: string; secret: string } | undefined {
  const m = new RegExp(`^${prefix}_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$`).exec(value)
  if (m === null) return undefined
  const h = m[1] as string
  return {
    id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
    secret: m[2] as string,
  }
}

const badCredentials = () => new AuthenticationError('wrong email or password')

export function createIdentity(deps: ContextDeps<IdentityConfig>) {
  const { db, bus, clock, config } = deps
  const store = createIdentityStore(db)
  const tokens = createTokens(db, clock)
  // Verified against when the email is unknown, so that an unknown address takes as long as a wrong password.
  const decoy = argonHash('not a password of anyone', argon)

  const accessChanged = (
    tx: Transaction,
    orgId: string,
    subject: { kind: 'user' | 'service-account'; id: string },
    change: 'granted' | 'revoked',
    role: string,
    changedBy: string,
  ) =>
    bus.publish(tx, {
      type: 'evt.access.changed',
      tenantId: orgId,
      data: { subject, change, role, scope: { kind: 'tenant', id: orgId }, changedBy },
    })

  /** Permissions of a role in an organisation (inside withTenant of it); undefined when there is no such role. */
  const permissionsOfRole = async (
    tx: Transaction,
    role: string,
  ): Promise<readonly Permission[] | undefined> => {
    if (isBuiltinRole(role)) return builtinRoles[role]
    return (await store.customRole(tx, role))?.permissions.filter(isPermission)
  }
  const requireRole = async (tx: Transaction, role: string) => {
    const granted = await permissionsOfRole(tx, role)
    if (granted === undefined) {
      throw new InputError(`no role ${role} in this organisation`, [
        { path: '/role', message: 'unknown role' },
      ])
    }
    return granted
  }

  /** Nobody hands out what they may not do themselves: a role, a key or an invite. */
  const withinOwn = (principal: Principal, orgId: string, what: string, granted: readonly Permission[]) => {
    const own = principal.orgs.get(orgId)?.permissions ?? []
    const beyond = granted.filter((p) => !own.includes(p))
    if (beyond.length > 0)
      throw new NotAllowedError(`${what} would grant what you may not do: ${beyond.join(', ')}`)
  }

  const issueSession = async (tx: Transaction, userId: string, familyId: string = newId()) => {
    const id = newId()
    const { secret, hash } = newSecret()
    await tx.query(
      `INSERT INTO refresh_tokens (id, family_id, user_id, secret_hash, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [id, familyId, userId, hash, new Date(clock.now().getTime() + refreshTokenTtlSeconds * 1000)],
    )
    return { refreshToken: compose(refreshPrefix, id, secret), userId }
  }
  const withAccess = async (session: { refreshToken: string; userId: string }) => ({
    accessToken: await tokens.issue(session.userId),
    tokenType: 'Bearer' as const,
    expiresIn: 15 * 60,
    refreshToken: session.refreshToken,
  })

  /**
   * Who a user or key is, read from the database at most every 5 seconds per user or key: a change made
   * through this process drops the entry at once; other replicas see it within the 5 seconds.
   */
  const principals = new LRUCache<string, Principal>({ max: 50_000, ttl: 5_000 })
  const keyHashes = new Map<string, { hash: Buffer; expiresAt: number | null }>()
  /**
   * Bumped by every change: a load that started before a change does not put what it read in the
   * cache after the change dropped it.
   */
  const generations = new LRUCache<string, number>({ max: 50_000 })
  const forget = (kind: 'user' | 'key', id: string) => {
    const drop = (key: string) => {
      principals.delete(key)
      generations.set(key, (generations.get(key) ?? 0) + 1)
    }
    drop(`${kind}:${id}`)
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
  const lastUseWritten = new LRUCache<string, true>({ max: 50_000, ttl: 60_000 })

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
                : (r.custom_permissions ?? []).filter(isPermission),
            },
          ]),
        ),
      }
    })

  const principalOfUser = (userId: string): Promise<Principal> =>
    cached(`user:${userId}`, () => loadUser(userId))

  const principalOfKey = async (value: string): Promise<Principal> => {
    const parsed = parse(apiKeyPrefix, value)
    if (parsed === undefined) throw new AuthenticationError('the API key is malformed')
    const hit = principals.get(`key:${parsed.id}`)
    const known = keyHashes.get(parsed.id)
    if (hit !== undefined && known !== undefined) {
      if (!sameHash(known.hash, sha256(parsed.secret)))
        throw new AuthenticationError('the API key is not valid')
      if (known.expiresAt !== null && known.expiresAt <= clock.now().getTime()) {
        throw new AuthenticationError('the API key has expired')
      }
      touch(hit)
      return hit
    }
    return cached(`key:${parsed.id}`, () => loadKey(parsed))
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
    tokens,

    async authenticate(header: string): Promise<Principal> {
      const [scheme, value, ...rest] = header.trim().split(/\s+/)
      if (value === undefined || rest.length > 0) {
        throw new AuthenticationError('the Authorization header must be "Bearer <token>" or "ApiKey <key>"')
      }
      if (scheme?.toLowerCase() === 'bearer') return principalOfUser(await tokens.verify(value))
      if (scheme?.toLowerCase() === 'apikey') return principalOfKey(value)
      throw new AuthenticationError(`unsupported authorization scheme ${scheme}; use Bearer or ApiKey`)
    },

    async signup(input: { email: string; password: string; name: string; orgName: string }) {
      const hashed = await argonHash(input.password, argon)
      const userId = newId()
      const orgId = newId()
      const session = await db.transaction(async (tx) => {
        // One signup at a time decides who is first (the operator) and whether signup is open.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['identity:signup'])
        const first = (await store.countUsers(tx)) === 0
        if (!first && !config.SIGNUP_ENABLED) {
          throw new NotAllowedError(
            'signup is closed on this installation: ask an organisation owner for an invite',
          )
        }
        if (
          (await tx.query('SELECT 1 FROM users WHERE email_key = $1', [input.email.toLowerCase()])).rowCount >
          0
        ) {
          throw new ConflictError('an account with this email exists; sign in instead')
        }
        await store.insertUser(tx, {
          id: userId,
          email: input.email,
          name: input.name,
          passwordHash: hashed,
          operator: first,
        })
        await store.insertOrg(tx, { id: orgId, name: input.orgName, createdBy: userId })
        await tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [orgId])
        await tx.query('INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)', [
          orgId,
          userId,
          'owner',
        ])
        await accessChanged(tx, orgId, { kind: 'user', id: userId }, 'granted', 'owner', userId)
        return issueSession(tx, userId)
      })
      return { userId, orgId, ...(await withAccess(session)) }
    },

    async login(email: string, password: string) {
      const user = await store.userByEmail(email.toLowerCase())
      if (user === undefined) {
        await argonVerify(await decoy, password).catch(() => false)
        throw badCredentials()
      }
      if (!(await argonVerify(user.password_hash, password))) throw badCredentials()
      return withAccess(await db.transaction((tx) => issueSession(tx, user.id)))
    },

    /** Rotates a refresh token; a token used before revokes its whole family (it was stolen, or replayed). */
    async refresh(refreshToken: string) {
      const parsed = parse(refreshPrefix, refreshToken)
      if (parsed === undefined) throw new AuthenticationError('the refresh token is malformed')
      const outcome = await db.transaction(async (tx) => {
        const row = (
          await tx.query<{
            family_id: string
            user_id: string
            secret_hash: Buffer
            expires_at: Date
            used_at: Date | null
            revoked_at: Date | null
          }>(
            'SELECT family_id, user_id, secret_hash, expires_at, used_at, revoked_at FROM refresh_tokens WHERE id = $1 FOR UPDATE',
            [parsed.id],
          )
        ).rows[0]
        if (row === undefined || !sameHash(row.secret_hash, sha256(parsed.secret))) return 'invalid' as const
        if (row.revoked_at !== null) return 'revoked' as const
        if (row.used_at !== null) {
          await tx.query(
            'UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
            [row.family_id],
          )
          return 'reused' as const
        }
        if (row.expires_at.getTime() <= clock.now().getTime()) return 'expired' as const
        await tx.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [parsed.id])
        return issueSession(tx, row.user_id, row.family_id)
      })
      if (typeof outcome === 'string') {
        throw new AuthenticationError(
          outcome === 'reused'
            ? 'the refresh token was used before; every session of this sign-in is revoked: sign in again'
            : `the refresh token is ${outcome}; sign in again`,
        )
      }
      return withAccess(outcome)
    },

    async logout(refreshToken: string) {
      const parsed = parse(refreshPrefix, refreshToken)
      if (parsed === undefined) throw new AuthenticationError('the refresh token is malformed')
      const { rows } = await db.query<{ family_id: string; secret_hash: Buffer }>(
        'SELECT family_id, secret_hash FROM refresh_tokens WHERE id = $1',
        [parsed.id],
      )
      const row = rows[0]
      if (row === undefined || !sameHash(row.secret_hash, sha256(parsed.secret))) {
        throw new AuthenticationError('the refresh token is not valid')
      }
      await db.query(
        'UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
        [row.family_id],
      )
    },

    async me(principal: Principal) {
      const userId = principal.userId as string
      return store.asUser(userId, async (tx) => {
        const user = await store.userById(userId, tx)
        if (user === undefined) throw new NotFoundError('no such user')
        const orgs = await store.membershipsOf(tx, userId)
        return {
          id: user.id,
          email: user.email,
          name: user.name,
          operator: user.operator,
          orgs: orgs.map((o) => ({ id: o.org_id, name: o.org_name, role: o.role })),
        }
      })
    },

    async createOrg(principal: Principal, name: string) {
      if (principal.kind !== 'user') throw new NotAllowedError('only a user creates organisations')
      const userId = principal.id
      const orgId = newId()
      return db.withTenant(orgId, async (tx) => {
        await store.insertOrg(tx, { id: orgId, name, createdBy: userId })
        await tx.query('INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)', [
          orgId,
          userId,
          'owner',
        ])
        tx.afterCommit(() => forget('user', userId))
        await accessChanged(tx, orgId, { kind: 'user', id: userId }, 'granted', 'owner', userId)
        const org = await store.orgById(tx, orgId)
        return { id: orgId, name, createdAt: (org?.created_at as Date).toISOString() }
      })
    },

    async getOrg(orgId: string) {
      return db.withTenant(orgId, async (tx) => {
        const org = await store.orgById(tx, orgId)
        if (org === undefined) throw new NotFoundError(`no organisation ${orgId}`)
        const members = await tx.query<{ n: string }>('SELECT count(*) AS n FROM memberships')
        return {
          id: org.id,
          name: org.name,
          createdAt: org.created_at.toISOString(),
          members: Number(members.rows[0]?.n),
        }
      })
    },

    async members(orgId: string) {
      return db.withTenant(orgId, async (tx) => {
        const { rows } = await tx.query<{
          user_id: string
          email: string
          name: string
          role: string
          created_at: Date
        }>(
          `SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
            ORDER BY m.created_at`,
        )
        return rows.map((r) => ({
          userId: r.user_id,
          email: r.email,
          name: r.name,
          role: r.role,
          since: r.created_at.toISOString(),
        }))
      })
    },

    async changeMember(principal: Principal, orgId: string, userId: string, role: string) {
      return db.withTenant(orgId, async (tx) => {
        withinOwn(principal, orgId, `role ${role}`, await requireRole(tx, role))
        const current = (
          await tx.query<{ role: string }>('SELECT role FROM memberships WHERE user_id = $1 FOR UPDATE', [
            userId,
          ])
        ).rows[0]
        if (current === undefined) throw new NotFoundError(`no member ${userId} in this organisation`)
        if (current.role === role) return { userId, role }
        if (current.role === 'owner') {
          if (principal.orgs.get(orgId)?.role !== 'owner') {
            throw new NotAllowedError('only an owner changes or removes another owner')
          }
          await keepAnOwner(tx, userId)
        }
        if (role === 'owner' && principal.orgs.get(orgId)?.role !== 'owner') {
          throw new NotAllowedError('only an owner makes another member an owner')
        }
        await tx.query('UPDATE memberships SET role = $2 WHERE user_id = $1', [userId, role])
        tx.afterCommit(() => forget('user', userId))
        await accessChanged(tx, orgId, { kind: 'user', id: userId }, 'revoked', current.role, principal.id)
        await accessChanged(tx, orgId, { kind: 'user', id: userId }, 'granted', role, principal.id)
        return { userId, role }
      })
    },

    async removeMember(principal: Principal, orgId: string, userId: string) {
      await db.withTenant(orgId, async (tx) => {
        const current = (
          await tx.query<{ role: string }>('SELECT role FROM memberships WHERE user_id = $1 FOR UPDATE', [
            userId,
          ])
        ).rows[0]
        if (current === undefined) throw new NotFoundError(`no member ${userId} in this organisation`)
        if (current.role === 'owner') {
          if (principal.orgs.get(orgId)?.role !== 'owner') {
            throw new NotAllowedError('only an owner changes or removes another owner')
          }
          await keepAnOwner(tx, userId)
        }
        await tx.query('DELETE FROM memberships WHERE user_id = $1', [userId])
        tx.afterCommit(() => forget('user', userId))
        await accessChanged(tx, orgId, { kind: 'user', id: userId }, 'revoked', current.role, principal.id)
      })
    },

    async createRole(
      principal: Principal,
      orgId: string,
      input: { name: string; description?: string; permissions: string[] },
    ) {
      if (isBuiltinRole(input.name)) throw new ConflictError(`${input.name} is a built-in role`)
      const unknown = input.permissions.filter((p) => !isPermission(p))
      if (unknown.length > 0) {
        throw new InputError(
          `unknown permissions: ${unknown.join(', ')}`,
          unknown.map((p) => ({
            path: `/permissions/${input.permissions.indexOf(p)}`,
            message: `no permission ${p}`,
          })),
        )
      }
      withinOwn(principal, orgId, `role ${input.name}`, input.permissions.filter(isPermission))
      return db.withTenant(orgId, async (tx) => {
        const inserted = await tx.query(
          'INSERT INTO roles (org_id, name, description, permissions) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
          [orgId, input.name, input.description ?? '', [...new Set(input.permissions)]],
        )
        if (inserted.rowCount === 0)
          throw new ConflictError(`a role ${input.name} exists in this organisation`)
        return {
          name: input.name,
          description: input.description ?? '',
          permissions: [...new Set(input.permissions)],
          builtin: false,
        }
      })
    },

    async roles(orgId: string | undefined) {
      const builtin = Object.entries(builtinRoles).map(([name, permissions]) => ({
        name,
        description: `built-in role ${name}`,
        permissions: [...permissions],
        builtin: true,
      }))
      if (orgId === undefined) return builtin
      const custom = await db.withTenant(orgId, (tx) =>
        tx.query<{ name: string; description: string; permissions: string[] }>(
          'SELECT name, description, permissions FROM roles ORDER BY name',
        ),
      )
      return [...builtin, ...custom.rows.map((r) => ({ ...r, builtin: false }))]
    },

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
        }>(
          'SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at',
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
      }))
    },

    /**
     * Replaces a key with a new one of the same name and role (shown once); the old one stops working
     * at once, or after `graceHours` so that deployments can switch over.
     */
    async rotateApiKey(principal: Principal, orgId: string, keyId: string, graceHours = 0) {
      if (!uuidPattern.test(keyId)) throw new NotFoundError(`no API key ${keyId}`)
      const id = newId()
      const { secret, hash } = newSecret()
      return db.withTenant(orgId, async (tx) => {
        const old = (
          await tx.query<{ name: string; role: string; expires_at: Date | null }>(
            'SELECT name, role, expires_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL FOR UPDATE',
            [keyId],
          )
        ).rows[0]
        if (old === undefined) throw new NotFoundError(`no active API key ${keyId}`)
        withinOwn(principal, orgId, `a key with role ${old.role}`, await requireRole(tx, old.role))
        await tx.query(
          'INSERT INTO api_keys (id, org_id, name, role, secret_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [id, orgId, old.name, old.role, hash, principal.userId, old.expires_at],
        )
        await tx.query('INSERT INTO api_key_orgs (key_id, org_id) VALUES ($1, $2)', [id, orgId])
        const until = new Date(clock.now().getTime() + graceHours * 3_600_000)
        await tx.query(
          graceHours === 0
            ? 'UPDATE api_keys SET revoked_at = now() WHERE id = $1'
            : 'UPDATE api_keys SET expires_at = LEAST(coalesce(expires_at, $2), $2) WHERE id = $1',
          graceHours === 0 ? [keyId] : [keyId, until],
        )
        tx.afterCommit(() => {
          forget('key', keyId)
          keyHashes.delete(keyId)
        })
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
        tx.afterCommit(() => {
          forget('key', keyId)
          keyHashes.delete(keyId)
        })
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

    async invite(principal: Principal, orgId: string, input: { email: string; role: string }) {
      const id = newId()
      const { secret, hash } = newSecret()
      return db.withTenant(orgId, async (tx) => {
        withinOwn(principal, orgId, `an invite as ${input.role}`, await requireRole(tx, input.role))
        if (input.role === 'owner' && principal.orgs.get(orgId)?.role !== 'owner') {
          throw new NotAllowedError('only an owner invites another owner')
        }
        const expiresAt = new Date(clock.now().getTime() + inviteTtlMs)
        await tx.query(
          'INSERT INTO invites (id, org_id, email_key, role, token_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [id, orgId, input.email.toLowerCase(), input.role, hash, principal.userId, expiresAt],
        )
        await tx.query('INSERT INTO invite_orgs (token_hash, org_id) VALUES ($1, $2)', [hash, orgId])
        return {
          id,
          email: input.email,
          role: input.role,
          expiresAt: expiresAt.toISOString(),
          token: compose(invitePrefix, id, secret),
        }
      })
    },

    /** Accepts an invite as the signed-in user whose email it was sent to; single use. */
    async acceptInvite(principal: Principal, token: string) {
      const parsed = parse(invitePrefix, token)
      if (parsed === undefined || principal.kind !== 'user') throw new NotFoundError('no such invite')
      const hash = sha256(parsed.secret)
      const link = (
        await db.query<{ org_id: string; token_hash: Buffer }>(
          'SELECT org_id, token_hash FROM invite_orgs WHERE token_hash = $1',
          [hash],
        )
      ).rows[0]
      if (link === undefined) throw new NotFoundError('no such invite')
      const user = await store.userById(principal.id)
      return db.withTenant(link.org_id, async (tx) => {
        const invite = (
          await tx.query<{
            id: string
            email_key: string
            role: string
            expires_at: Date
            accepted_at: Date | null
            created_by: string
          }>(
            'SELECT id, email_key, role, expires_at, accepted_at, created_by FROM invites WHERE id = $1 AND token_hash = $2 FOR UPDATE',
            [parsed.id, hash],
          )
        ).rows[0]
        if (invite === undefined) throw new NotFoundError('no such invite')
        if (invite.accepted_at !== null) throw new ConflictError('this invite was accepted already')
        if (invite.expires_at.getTime() <= clock.now().getTime())
          throw new ConflictError('this invite has expired; ask for a new one')
        if (user?.email.toLowerCase() !== invite.email_key)
          throw new NotAllowedError('this invite was sent to another email address')
        // Its sender must still be able to grant its role.
        const sender = (
          await tx.query<{ role: string }>('SELECT role FROM memberships WHERE user_id = $1', [
            invite.created_by,
          ])
        ).rows[0]
        const senderMay = sender === undefined ? [] : ((await permissionsOfRole(tx, sender.role)) ?? [])
        const inviteGrants = (await permissionsOfRole(tx, invite.role)) ?? []
        if (sender === undefined || inviteGrants.some((p) => !senderMay.includes(p))) {
          throw new ConflictError('whoever sent this invite can no longer grant its role; ask for a new one')
        }
        const joined = await tx.query(
          'INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [link.org_id, principal.id, invite.role],
        )
        if (joined.rowCount === 0) throw new ConflictError('you are a member of this organisation already')
        await tx.query('UPDATE invites SET accepted_at = now(), accepted_by = $2 WHERE id = $1', [
          invite.id,
          principal.id,
        ])
        tx.afterCommit(() => forget('user', principal.id))
        await accessChanged(
          tx,
          link.org_id,
          { kind: 'user', id: principal.id },
          'granted',
          invite.role,
          principal.id,
        )
        return { orgId: link.org_id, role: invite.role }
      })
    },
  }

  /** An organisation never loses its last owner. */
  async function keepAnOwner(tx: Transaction, leaving: string) {
    // Every owner row locked: two owners leaving at once are decided one after the other.
    const { rows } = await tx.query<{ user_id: string }>(
      "SELECT user_id FROM memberships WHERE role = 'owner' FOR UPDATE",
    )
    if (rows.filter((r) => r.user_id !== leaving).length === 0)
      throw new ConflictError('an organisation keeps at least one owner: make another member owner first')
  }
}
export type Identity = ReturnType<typeof createIdentity>
