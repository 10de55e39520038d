import { InputError, type Violation } from '@rxt/kit'
import { repositoryForms, repositoryName } from './domain/repository.ts'

/** Why a request may not write `repositoryUrl`: it is the repository's URL, made from `repository`. */
export const repositoryUrlReadOnly =
  'is read-only: write the repository in repository, as owner/name or its GitHub URL'

/**
 * A project's fields as a request writes them, as the registry keeps them: `repository` as
 * `owner/name` (its GitHub URL accepted), `repositoryUrl` refused. Every problem is one violation under
 * `/body`, in one 400.
 */
export function projectInput<
  B extends { readonly repository?: string | null; readonly repositoryUrl?: unknown },
>(body: B): Omit<B, 'repositoryUrl'> {
  const violations: Violation[] = []
  if ('repositoryUrl' in body)
    violations.push({ path: '/body/repositoryUrl', message: repositoryUrlReadOnly })
  const written = body.repository
  const repository = typeof written === 'string' ? repositoryName(written) : written
  if (typeof written === 'string' && repository === undefined)
    violations.push({ path: '/body/repository', message: `must be ${repositoryForms}` })
  if (violations.length > 0)
    throw new InputError(
      `the body is invalid: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
      violations,
    )
  const { repositoryUrl: _readOnly, ...input } = body
  return repository === undefined ? input : { ...input, repository }
}
