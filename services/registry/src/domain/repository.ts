/**
 * A project's GitHub repository as people write it: `owner/name`, or its URL
 * (`https://github.com/owner/name`, with or without `.git` and a trailing slash). The registry keeps
 * `owner/name`.
 */

/** What a repository must look like, said once wherever one is refused. */
export const repositoryForms = 'owner/name or https://github.com/owner/name'

const segment = '[A-Za-z0-9_.-]+'
const ownerName = new RegExp(`^(${segment})/(${segment})$`)
// Only https, only github.com, no user, port, query or fragment: a URL that names the repository alone.
const githubUrl = new RegExp(`^https://github\\.com/(${segment})/(${segment}?)(?:\\.git)?/?$`, 'i')

/** `owner/name` of what was written, or undefined when it names no GitHub repository. */
export function repositoryName(written: string): string | undefined {
  const match = ownerName.exec(written) ?? githubUrl.exec(written)
  if (match === null) return undefined
  const [, owner, name] = match as unknown as [string, string, string]
  if ([owner, name].some((part) => part === '.' || part === '..')) return undefined
  return `${owner}/${name}`
}

/** The URL of a repository the registry keeps as `owner/name`. */
export const repositoryUrl = (name: string) => `https://github.com/${name}`
