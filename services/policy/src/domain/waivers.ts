import type { Finding } from './findings.ts'

/** An approved break-glass override as admission weighs it. */
export interface Waiver {
  readonly id: string
  readonly policies: readonly string[]
  readonly expiresAt: Date
}

/**
 * The violations an approved, unexpired override names are waived (with the override that waived
 * them); the rest still refuse. The earliest-expiring override that names a policy is the one cited.
 */
export function applyWaivers(
  violations: readonly Finding[],
  waivers: readonly Waiver[],
  now: Date,
): {
  readonly waived: readonly (Finding & { readonly overrideId: string })[]
  readonly remaining: readonly Finding[]
} {
  const live = waivers
    .filter((w) => w.expiresAt.getTime() > now.getTime())
    .toSorted((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime())
  const waived: (Finding & { overrideId: string })[] = []
  const remaining: Finding[] = []
  for (const violation of violations) {
    const by = live.find((w) => w.policies.includes(violation.policy))
    if (by === undefined) remaining.push(violation)
    else waived.push({ ...violation, overrideId: by.id })
  }
  return { waived, remaining }
}
