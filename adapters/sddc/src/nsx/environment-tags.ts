import type { Tag } from './wire.ts'

/** The environment an NSX object belongs to. */
export interface EnvironmentRef {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
}

/** The tag scopes that mark an object as the adapter's and name its tenant, project and environment. */
export const TagScope = {
  managedBy: 'rxt/managed-by',
  tenant: 'rxt/tenant',
  project: 'rxt/project',
  env: 'rxt/env',
} as const

export const managedByTag = 'rxt-deploy'

/** The tags every object of the environment carries (NSX allows 30 per object; these are 4). */
export const environmentTags = (env: EnvironmentRef): Tag[] => [
  { scope: TagScope.managedBy, tag: managedByTag },
  { scope: TagScope.tenant, tag: env.tenantId },
  { scope: TagScope.project, tag: env.projectId },
  { scope: TagScope.env, tag: env.envId },
]

/** Whether an object's tags name exactly this environment (scope and tag as pairs). */
export function belongsTo(tags: readonly Tag[] | undefined, env: EnvironmentRef): boolean {
  if (tags === undefined) return false
  return environmentTags(env).every((wanted) =>
    tags.some((tag) => tag.scope === wanted.scope && tag.tag === wanted.tag),
  )
}

/** The characters NSX's search syntax (Lucene's) gives a meaning: escaped with a backslash. */
const special = /[+\-=&|><!(){}[\]^"~*?:\\/ ]/g
export const escapeSearchTerm = (term: string): string => term.replace(special, (c) => `\\${c}`)

/**
 * The search query (GET /policy/api/v1/search/query) for the environment's objects. NSX matches
 * `tags.scope` and `tags.tag` each against any of an object's tags, not as one pair, so the caller
 * keeps only what `belongsTo` the environment.
 */
export const environmentQuery = (env: EnvironmentRef): string =>
  `tags.scope:${escapeSearchTerm(TagScope.env)} AND tags.tag:${escapeSearchTerm(env.envId)}`
