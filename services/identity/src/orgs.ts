import {
  builtinRoles,
  ConflictError,
  type ContextDeps,
  isBuiltinRole,
  isPermission,
  NotAllowedError,
  NotFoundError,
  newId,
  type Principal,
} from '@rxt/kit'
import { compose, invitePrefix, parse } from './credentials.ts'
import { refuseServicePermissions, refuseUnknownPermissions } from './domain/permissions.ts'
import type { Grants } from './grants.ts'
import type { IdentityConfig } from './service.ts'
import type { IdentityStore } from './store.ts'
import { newSecret, sha256 } from './tokens.ts'

const inviteTtlMs = 7 * 24 * 3_600_000

/** Organisations, their members, custom roles and invites. */
export function createOrgs(
  deps: ContextDeps<IdentityConfig>,
  parts: { store: IdentityStore; grants: Grants; forget: (kind: 'user' | 'key', id: string) => void },
) {
  const { db, clock } = deps
  const { store, forget } = parts
  const { accessChanged, permissionsOfRole, requireRole, withinOwn, keepAnOwner } = parts.grants

  return {
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
      refuseUnknownPermissions(input.permissions)
      refuseServicePermissions(input.permissions)
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
}
