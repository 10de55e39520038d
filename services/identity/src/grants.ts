import {
  builtinRoles,
  ConflictError,
  type ContextDeps,
  currentScope,
  InputError,
  isBuiltinRole,
  isPermission,
  isServicePermission,
  NotAllowedError,
  type Permission,
  type Principal,
  type Transaction,
} from '@rxt/kit'
import type { IdentityConfig } from './service.ts'
import type { IdentityStore } from './store.ts'

/**
 * Who may grant what: the permissions of a role, the rule that nobody hands out more than they may do,
 * an organisation's last owner, and the evt.access.changed every grant and revocation publishes.
 */
export function createGrants(deps: ContextDeps<IdentityConfig>, store: IdentityStore) {
  const { bus } = deps
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
      // A signup has no caller yet: the user it creates is the actor.
      actor: currentScope()?.actor ?? `user:${changedBy}`,
      data: { subject, change, role, scope: { kind: 'tenant', id: orgId }, changedBy },
    })

  /** Permissions of a role in an organisation (inside withTenant of it); undefined when there is no such role. */
  const permissionsOfRole = async (
    tx: Transaction,
    role: string,
  ): Promise<readonly Permission[] | undefined> => {
    if (isBuiltinRole(role)) return builtinRoles[role]
    // A role never holds a service-only permission, even one stored before the rule.
    return (await store.customRole(tx, role))?.permissions
      .filter(isPermission)
      .filter((p) => !isServicePermission(p))
  }
  const requireRole = async (tx: Transaction, role: string) => {
    const granted = await permissionsOfRole(tx, role)
    if (granted === undefined) {
      throw new InputError(`no role ${role} in this organisation`, [
        { path: '/body/role', message: 'unknown role' },
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

  /** An organisation never loses its last owner. */
  const keepAnOwner = async (tx: Transaction, leaving: string) => {
    // Every owner row locked: two owners leaving at once are decided one after the other.
    const { rows } = await tx.query<{ user_id: string }>(
      "SELECT user_id FROM memberships WHERE role = 'owner' FOR UPDATE",
    )
    if (rows.filter((r) => r.user_id !== leaving).length === 0)
      throw new ConflictError('an organisation keeps at least one owner: make another member owner first')
  }

  return { accessChanged, permissionsOfRole, requireRole, withinOwn, keepAnOwner }
}
export type Grants = ReturnType<typeof createGrants>
