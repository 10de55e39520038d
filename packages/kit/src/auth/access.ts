/**
 * Access control, default deny: the permissions, the built-in roles, and the one decision function the
 * HTTP guard of every context (and the gateway) calls. Pure: no I/O.
 */

/** Everything a route may require. Tenant permissions apply within one organisation. */
export const Permission = {
  orgRead: 'org:read',
  orgManage: 'org:manage',
  membersRead: 'members:read',
  membersManage: 'members:manage',
  rolesManage: 'roles:manage',
  apiKeysRead: 'api-keys:read',
  apiKeysManage: 'api-keys:manage',
  projectsRead: 'projects:read',
  projectsWrite: 'projects:write',
  deploymentsRead: 'deployments:read',
  deploymentsWrite: 'deployments:write',
  secretsRead: 'secrets:read',
  secretsWrite: 'secrets:write',
  /**
   * Read a deployment's secret values by its grant (the adapters that write them to the platform).
   * Service-only: no built-in role holds it and no custom role may.
   */
  secretsDeliver: 'secrets:deliver',
  auditRead: 'audit:read',
  billingRead: 'billing:read',
  billingManage: 'billing:manage',
  /** Approve a break-glass override of a policy for one deployment (never one's own request). */
  policyOverride: 'policy:override',
} as const
export type Permission = (typeof Permission)[keyof typeof Permission]
export const permissions: readonly Permission[] = Object.values(Permission)
export const isPermission = (value: string): value is Permission =>
  (permissions as readonly string[]).includes(value)

/**
 * What only the platform's own services may hold (on their service credentials): never a built-in
 * role's, never a custom role's, so that no user or API key can be given it.
 */
export const servicePermissions: readonly Permission[] = [Permission.secretsDeliver]
export const isServicePermission = (value: string): boolean =>
  (servicePermissions as readonly string[]).includes(value)
/** Every permission a role (built-in or custom) may hold. */
export const rolePermissions: readonly Permission[] = permissions.filter((p) => !isServicePermission(p))

const read: readonly Permission[] = [
  Permission.orgRead,
  Permission.membersRead,
  Permission.projectsRead,
  Permission.deploymentsRead,
  Permission.auditRead,
]

/** The built-in roles. Custom roles are named permission sets an organisation defines. */
export const BuiltinRole = {
  owner: 'owner',
  admin: 'admin',
  developer: 'developer',
  viewer: 'viewer',
} as const
export type BuiltinRole = (typeof BuiltinRole)[keyof typeof BuiltinRole]

export const builtinRoles: Readonly<Record<BuiltinRole, readonly Permission[]>> = {
  // Everything a role may hold (not the service-only permissions).
  owner: rolePermissions,
  // Everything but the organisation's billing.
  admin: rolePermissions.filter((p) => p !== Permission.billingManage),
  developer: [
    ...read,
    Permission.projectsWrite,
    Permission.deploymentsWrite,
    Permission.secretsRead,
    Permission.secretsWrite,
    Permission.apiKeysRead,
  ],
  viewer: read,
}
export const isBuiltinRole = (name: string): name is BuiltinRole => Object.hasOwn(builtinRoles, name)

/** Who is calling, as the authenticator resolved it for this request. */
export interface Principal {
  readonly kind: 'user' | 'api-key' | 'service'
  /** The user id, API key id or service name. */
  readonly id: string
  /** The user behind it (a key's creator for an API key). */
  readonly userId: string | undefined
  /** Platform operator: manages providers, dead letters, plans; above every tenant. */
  readonly operator: boolean
  /** What it may do in each organisation it belongs to (an API key: exactly one). */
  readonly orgs: ReadonlyMap<string, { readonly role: string; readonly permissions: readonly Permission[] }>
  /**
   * A service (another context of the platform) belongs to no organisation and acts in any one it
   * names, with these permissions only: what its credential was issued with.
   */
  readonly everyOrg?: { readonly role: string; readonly permissions: readonly Permission[] }
}

/** How a principal is named on log lines, events and records: `user:<id>`, `api-key:<id>`, `service:<name>`. */
export const actorOf = (principal: Pick<Principal, 'kind' | 'id'>): string =>
  `${principal.kind}:${principal.id}`

/** What a route needs: nobody, anyone signed in, an operator, or a permission in an organisation. */
export type Requirement =
  | { readonly public: string }
  | { readonly authenticated: true }
  | { readonly operator: true }
  | { readonly permission: Permission }

export type Decision =
  | { readonly allowed: true }
  /** `not-member`: the organisation must look absent to the caller (404), never "forbidden". */
  | {
      readonly allowed: false
      readonly reason: 'not-member' | 'missing-permission' | 'not-operator'
      readonly detail: string
    }

/** The decision: default deny; an organisation's data is reachable only by its members. */
export function decide(principal: Principal, requirement: Requirement, orgId: string | undefined): Decision {
  if ('public' in requirement || 'authenticated' in requirement) return { allowed: true }
  if ('operator' in requirement) {
    return principal.operator
      ? { allowed: true }
      : { allowed: false, reason: 'not-operator', detail: 'only a platform operator may do this' }
  }
  const membership = orgId === undefined ? undefined : (principal.orgs.get(orgId) ?? principal.everyOrg)
  if (membership === undefined) {
    return { allowed: false, reason: 'not-member', detail: 'no such organisation' }
  }
  return membership.permissions.includes(requirement.permission)
    ? { allowed: true }
    : {
        allowed: false,
        reason: 'missing-permission',
        detail: `role ${membership.role} lacks ${requirement.permission}`,
      }
}
