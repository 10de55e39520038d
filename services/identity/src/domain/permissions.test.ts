import { InputError } from '@rxt/kit'
import { describe, expect, it } from 'vitest'
import { refuseServicePermissions, refuseUnknownPermissions } from './permissions.ts'

describe('permissions a request names', () => {
  it('refuses an unknown permission at its place in the body', () => {
    expect(() => refuseUnknownPermissions(['org:read', 'root:all'])).toThrow(InputError)
    expect(() => refuseUnknownPermissions(['org:read', 'secrets:deliver'])).not.toThrow()
  })

  it('refuses a service-only permission in a role, naming it and its place', () => {
    expect(() => refuseServicePermissions(['secrets:read', 'secrets:write'])).not.toThrow()
    try {
      refuseServicePermissions(['secrets:read', 'secrets:deliver'])
      expect.unreachable('secrets:deliver is refused in a role')
    } catch (error) {
      expect(error).toBeInstanceOf(InputError)
      expect((error as InputError).message).toContain('secrets:deliver')
      expect((error as InputError).violations).toEqual([
        {
          path: '/body/permissions/1',
          message: "secrets:deliver is held by the platform's service credentials only, not by a role",
        },
      ])
    }
  })
})
