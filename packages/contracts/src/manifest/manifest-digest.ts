import { createHash } from 'node:crypto'
import type { DeployManifest } from './deploy-manifest.ts'

/**
 * The canonical form of a manifest (RFC 8785, JSON Canonicalization Scheme): keys sorted by UTF-16 code
 * units at every level, no whitespace, numbers and strings as ECMAScript serialises them. Loaded
 * manifests have their defaults applied and their comments and layout gone, so two files that mean
 * the same have the same canonical form.
 */
export function canonicalManifest(manifest: DeployManifest): string {
  return canonical(manifest)
}

/** RFC 8785 (JSON Canonicalization Scheme) of any JSON value: what canonicalManifest applies. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** `sha256:<hex>` of the canonical form: what deployments reference, never a mutable manifest. */
export function manifestDigest(manifest: DeployManifest): string {
  return `sha256:${createHash('sha256').update(canonicalManifest(manifest)).digest('hex')}`
}
