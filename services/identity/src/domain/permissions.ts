import { InputError, isPermission } from '@rxt/kit'

/**
 * Refuses a list of permissions that names one the platform does not have: one violation per unknown
 * entry, at the entry's own place in the request body (as the schema names the fields it refuses).
 */
export function refuseUnknownPermissions(permissions: readonly string[]): void {
  const violations = permissions.flatMap((permission, index) =>
    isPermission(permission)
      ? []
      : [{ path: `/body/permissions/${index}`, message: `no permission ${permission}` }],
  )
  if (violations.length > 0) {
    throw new InputError(
      `unknown permissions: ${[...new Set(violations.map((v) => v.message.slice('no permission '.length)))].join(', ')}`,
      violations,
    )
  }
}
