import { describe, expect, it } from 'vitest'
import {
  builtinRoles,
  decide,
  Permission,
  type Principal,
  permissions,
  rolePermissions,
  servicePermissions,
} from './access.ts'

const member = (orgId: string, role: keyof typeof builtinRoles, operator = false): Principal => ({
  kind: 'user',
  id: 'usr_1',
  userId: 'usr_1',
  operator,
  orgs: new Map([[orgId, { role, permissions: builtinRoles[role] }]]),
})

describe('decide', () => {
  it('denies by default: a permission in an organisation the caller does not belong to is "not-member"', () => {
    expect(decide(member('org_a', 'owner'), { permission: Permission.orgRead }, 'org_b')).toMatchObject({
      allowed: false,
      reason: 'not-member',
    })
    expect(decide(member('org_a', 'owner'), { permission: Permission.orgRead }, undefined)).toMatchObject({
      allowed: false,
      reason: 'not-member',
    })
  })

  it('lets a viewer read and nothing else; a developer deploy but not manage members', () => {
    const viewer = member('org_a', 'viewer')
    expect(decide(viewer, { permission: Permission.projectsRead }, 'org_a').allowed).toBe(true)
    for (const p of permissions.filter((p) => !builtinRoles.viewer.includes(p))) {
      expect(decide(viewer, { permission: p }, 'org_a')).toMatchObject({
        allowed: false,
        reason: 'missing-permission',
      })
    }
    const developer = member('org_a', 'developer')
    expect(decide(developer, { permission: Permission.deploymentsWrite }, 'org_a').allowed).toBe(true)
    expect(decide(developer, { permission: Permission.membersManage }, 'org_a')).toMatchObject({
      allowed: false,
      detail: 'role developer lacks members:manage',
    })
  })

  it('keeps operator routes to operators, whatever their tenant roles', () => {
    expect(decide(member('org_a', 'owner'), { operator: true }, 'org_a').allowed).toBe(false)
    expect(decide(member('org_a', 'viewer', true), { operator: true }, undefined).allowed).toBe(true)
    // Being an operator grants nothing inside a tenant.
    expect(
      decide(member('org_a', 'viewer', true), { permission: Permission.orgManage }, 'org_b').allowed,
    ).toBe(false)
  })

  it('lets a service act in any organisation it names, with its permissions only, and in none unnamed', () => {
    const service: Principal = {
      kind: 'service',
      id: 'deployer',
      userId: undefined,
      operator: false,
      orgs: new Map(),
      everyOrg: { role: 'service', permissions: [Permission.projectsRead] },
    }
    expect(decide(service, { permission: Permission.projectsRead }, 'org_a').allowed).toBe(true)
    expect(decide(service, { permission: Permission.projectsRead }, 'org_b').allowed).toBe(true)
    expect(decide(service, { permission: Permission.projectsWrite }, 'org_a')).toMatchObject({
      allowed: false,
      reason: 'missing-permission',
    })
    expect(decide(service, { permission: Permission.projectsRead }, undefined).allowed).toBe(false)
    expect(decide(service, { operator: true }, 'org_a').allowed).toBe(false)
  })

  it('gives owners every permission but the service-only ones, and admins all but billing', () => {
    expect([...builtinRoles.owner].sort()).toEqual(
      [...permissions].filter((p) => p !== 'secrets:deliver').sort(),
    )
    expect(builtinRoles.admin).not.toContain(Permission.billingManage)
    expect(builtinRoles.admin).toContain(Permission.membersManage)
  })

  it('gives no built-in role a service-only permission: delivering secret values is for services', () => {
    expect(servicePermissions).toEqual(['secrets:deliver'])
    for (const [role, held] of Object.entries(builtinRoles))
      expect(held, role).not.toContain(Permission.secretsDeliver)
    expect(rolePermissions).not.toContain(Permission.secretsDeliver)
    expect(rolePermissions).toContain(Permission.secretsWrite)
  })
})
