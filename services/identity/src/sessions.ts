import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2'
import {
  AuthenticationError,
  ConflictError,
  type ContextDeps,
  InputError,
  NotAllowedError,
  newId,
  type Transaction,
} from '@rxt/kit'
import { compose, parse, refreshPrefix } from './credentials.ts'
import { normalisePassword, passwordProblems } from './domain/password-policy.ts'
import type { Grants } from './grants.ts'
import type { IdentityConfig } from './service.ts'
import type { SessionChecks } from './session-checks.ts'
import type { IdentityStore } from './store.ts'
import { newSecret, refreshTokenTtlSeconds, sameHash, sha256, type Tokens } from './tokens.ts'

// argon2id, OWASP's minimum (19 MiB, 2 passes).
const argon = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const
const badCredentials = () => new AuthenticationError('wrong email or password')

/** Accounts and sign-in: signup, login, sessions (a family of refresh tokens each), refresh, logout. */
export function createSessions(
  deps: ContextDeps<IdentityConfig>,
  parts: { store: IdentityStore; tokens: Tokens; grants: Grants; checks: SessionChecks },
) {
  const { db, clock, config } = deps
  const { store, tokens, checks } = parts
  const { accessChanged } = parts.grants
  // Verified against when the email is unknown, so that an unknown address takes as long as a wrong password.
  const decoy = argonHash('not a password of anyone', argon)

  /** A refresh token in the session `sessionId`, or in a new session (a sign-in) when none is given. */
  const issueSession = async (tx: Transaction, userId: string, sessionId?: string) => {
    if (sessionId === undefined) {
      sessionId = newId()
      await tx.query('INSERT INTO sessions (id, user_id) VALUES ($1, $2)', [sessionId, userId])
    }
    const id = newId()
    const { secret, hash } = newSecret()
    await tx.query(
      `INSERT INTO refresh_tokens (id, family_id, user_id, secret_hash, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [id, sessionId, userId, hash, new Date(clock.now().getTime() + refreshTokenTtlSeconds * 1000)],
    )
    return { refreshToken: compose(refreshPrefix, id, secret), userId, sessionId }
  }
  const withAccess = async (session: { refreshToken: string; userId: string; sessionId: string }) => ({
    accessToken: await tokens.issue(session.userId, session.sessionId),
    tokenType: 'Bearer' as const,
    expiresIn: 15 * 60,
    refreshToken: session.refreshToken,
  })
  /**
   * Ends a session (inside the transaction that holds its row): its refresh tokens and access tokens
   * stop, on this replica once the transaction commits, on the others within sessionCheckTtlMs.
   */
  const endSession = async (tx: Transaction, sessionId: string, because: 'logout' | 'reuse') => {
    await tx.query(
      `UPDATE sessions SET revoked_at = now(), revoked_because = $2 WHERE id = $1 AND revoked_at IS NULL`,
      [sessionId, because],
    )
    tx.afterCommit(() => checks.ended(sessionId))
  }

  return {
    async signup(input: { email: string; password: string; name: string; orgName: string }) {
      const problems = passwordProblems(input.password, input)
      if (problems.length > 0) {
        throw new InputError(
          `the password is not accepted: ${problems.join('; ')}`,
          problems.map((message) => ({ path: '/body/password', message })),
        )
      }
      const hashed = await argonHash(normalisePassword(input.password), argon)
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
      const normalised = normalisePassword(password)
      // Accounts made before passwords were normalised were hashed as typed: the typed form is tried too.
      const forms = normalised === password ? [normalised] : [normalised, password]
      if (user === undefined) {
        for (const form of forms) await argonVerify(await decoy, form).catch(() => false)
        throw badCredentials()
      }
      let matches = false
      for (const form of forms) if (!matches) matches = await argonVerify(user.password_hash, form)
      if (!matches) throw badCredentials()
      return withAccess(await db.transaction((tx) => issueSession(tx, user.id)))
    },

    /**
     * Rotates a refresh token; a token used before ends its whole session, access tokens included (it
     * was stolen, or replayed).
     */
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
          }>(
            'SELECT family_id, user_id, secret_hash, expires_at, used_at FROM refresh_tokens WHERE id = $1 FOR UPDATE',
            [parsed.id],
          )
        ).rows[0]
        if (row === undefined || !sameHash(row.secret_hash, sha256(parsed.secret))) return 'invalid' as const
        // The session's row is locked too: a logout waits for this refresh, or this refresh for it.
        const session = (
          await tx.query<{ revoked_at: Date | null }>(
            'SELECT revoked_at FROM sessions WHERE id = $1 FOR UPDATE',
            [row.family_id],
          )
        ).rows[0]
        if (session === undefined || session.revoked_at !== null) return 'revoked' as const
        if (row.used_at !== null) {
          await endSession(tx, row.family_id, 'reuse')
          return 'reused' as const
        }
        if (row.expires_at.getTime() <= clock.now().getTime()) return 'expired' as const
        await tx.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [parsed.id])
        return issueSession(tx, row.user_id, row.family_id)
      })
      if (typeof outcome === 'string') {
        throw new AuthenticationError(
          outcome === 'reused'
            ? 'the refresh token was used before: this sign-in is revoked, its access tokens with it; sign in again'
            : `the refresh token is ${outcome}; sign in again`,
        )
      }
      return withAccess(outcome)
    },

    async logout(refreshToken: string) {
      const parsed = parse(refreshPrefix, refreshToken)
      if (parsed === undefined) throw new AuthenticationError('the refresh token is malformed')
      await db.transaction(async (tx) => {
        const row = (
          await tx.query<{ family_id: string; secret_hash: Buffer }>(
            'SELECT family_id, secret_hash FROM refresh_tokens WHERE id = $1',
            [parsed.id],
          )
        ).rows[0]
        if (row === undefined || !sameHash(row.secret_hash, sha256(parsed.secret))) {
          throw new AuthenticationError('the refresh token is not valid')
        }
        await endSession(tx, row.family_id, 'logout')
      })
    },
  }
}
