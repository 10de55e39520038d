// Projects and environments are named by id or by slug/name: the list APIs say which is meant.
import type { Client } from './client.ts'
import { CliError, ExitCode } from './exit-codes.ts'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isId = (value: string) => uuid.test(value)

export interface ProjectRef {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly webhookUrl?: string
  readonly repository?: string | null
  readonly repositoryVerifiedAt?: string | null
}
export interface EnvironmentRef {
  readonly id: string
  readonly name: string
  readonly type: string
  readonly projectId: string
}

/** The project named by `--project`, RXT_PROJECT or the config's default. */
export async function resolveProject(client: Client, named: string | undefined): Promise<ProjectRef> {
  if (named === undefined)
    throw new CliError('no project named', ExitCode.usage, [
      'pass --project <id|slug>, set RXT_PROJECT, or choose one with rxt projects use <id|slug>',
    ])
  if (isId(named)) return client.request<ProjectRef>('GET', `/v1/projects/${named}`)
  const { items } = await client.request<{ items: ProjectRef[] }>('GET', '/v1/projects')
  const found = items.find((p) => p.slug === named) ?? items.find((p) => p.name === named)
  if (found === undefined) throw new CliError(`no project ${named}`, ExitCode.notFound)
  return found
}

export async function environmentsOf(client: Client, projectId: string): Promise<EnvironmentRef[]> {
  return (await client.request<{ items: EnvironmentRef[] }>('GET', `/v1/projects/${projectId}/environments`))
    .items
}

/** The environment named by id or name in the project; with none named, the project's only one. */
export async function resolveEnvironment(
  client: Client,
  project: ProjectRef,
  named: string | undefined,
): Promise<EnvironmentRef> {
  const all = await environmentsOf(client, project.id)
  if (named === undefined) {
    if (all.length === 1 && all[0] !== undefined) return all[0]
    throw new CliError(`name the environment of ${project.slug} with --env`, ExitCode.usage, [
      all.length === 0
        ? `it has none: create one with rxt envs create <name> --type <type>`
        : `it has ${all.map((e) => e.name).join(', ')}`,
    ])
  }
  const found = all.find((e) => e.id === named) ?? all.find((e) => e.name === named)
  if (found === undefined)
    throw new CliError(`no environment ${named} in project ${project.slug}`, ExitCode.notFound)
  return found
}
