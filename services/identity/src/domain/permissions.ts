import { InputError, isPermission, isServicePermission } from '@rxt/kit'

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

/**
 * Refuses a role (a custom role of an organisation) that names a permission only the platform's own
 * services may hold (`secrets:deliver`): a role is held by users and API keys, never by a service.
 */
export function refuseServicePermissions(permissions: readonly string[]): void {
  const violations = permissions.flatMap((permission, index) =>
    isServicePermission(permission)
      ? [
          {
            path: `/body/permissions/${index}`,
            message: `${permission} is held by the platform's service credentials only, not by a role`,
          },
        ]
      : [],
  )
  if (violations.length > 0) {
    throw new InputError(
      `a role may not hold ${[...new Set(violations.map((v) => v.message.split(' ')[0]))].join(', ')}: only service credentials (POST /v1/admin/service-credentials) hold it`,
      violations,
    )
  }
}
