/** One difference between two manifests, at a JSON pointer. */
export interface ManifestChange {
  readonly path: string
  readonly change: 'added' | 'removed' | 'changed'
  readonly before?: unknown
  readonly after?: unknown
}

const escapeKey = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1')
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The differences between two manifests (their canonical JSON values), deepest first-differing value
 * per path, in key order: objects are compared key by key, arrays item by item, anything else whole.
 */
export function diffManifests(before: unknown, after: unknown, path = ''): ManifestChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((key) => {
      const at = `${path}/${escapeKey(key)}`
      // Own keys only: `key in` finds what every object inherits (`constructor`, `toString`).
      if (!Object.hasOwn(after, key)) return [{ path: at, change: 'removed' as const, before: before[key] }]
      if (!Object.hasOwn(before, key)) return [{ path: at, change: 'added' as const, after: after[key] }]
      return diffManifests(before[key], after[key], at)
    })
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length)
    return Array.from({ length }, (_, i) => i).flatMap((i) => {
      const at = `${path}/${i}`
      if (i >= after.length) return [{ path: at, change: 'removed' as const, before: before[i] }]
      if (i >= before.length) return [{ path: at, change: 'added' as const, after: after[i] }]
      return diffManifests(before[i], after[i], at)
    })
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path, change: 'changed', before, after }]
}
