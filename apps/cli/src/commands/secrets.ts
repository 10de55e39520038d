// rxt secrets set|list|rotate: the secrets of a project (or one of its environments). Values come in on
// standard input or from a hidden prompt, and are never shown.
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'
import { isId, resolveEnvironment, resolveProject } from '../resolve.ts'
import { secretInput } from '../stdin.ts'

interface Secret {
  readonly id: string
  readonly name: string
  readonly ref: string
  readonly projectId: string
  readonly envId: string | null
  readonly scope: string
  readonly currentVersion: number
  readonly redeployOnRotation: boolean
  readonly updatedAt: string
}

/** What is shown of a secret: its metadata (the API never answers a value; this keeps it so). */
const shown = (s: Secret) => ({
  id: s.id,
  name: s.name,
  ref: s.ref,
  projectId: s.projectId,
  envId: s.envId,
  scope: s.scope,
  currentVersion: s.currentVersion,
  redeployOnRotation: s.redeployOnRotation,
  updatedAt: s.updatedAt,
})

async function scopeOf(ctx: RunContext, options: { project?: string; env?: string }) {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const env =
    options.env === undefined ? undefined : await resolveEnvironment(ctx.client, project, options.env)
  return { project, env }
}

export async function set(
  ctx: RunContext,
  [name]: string[],
  options: { project?: string; env?: string; redeployOnRotation?: boolean },
): Promise<void> {
  const { project, env } = await scopeOf(ctx, options)
  const value = await secretInput(`value of ${name}`)
  const secret = await ctx.client.request<Secret>('POST', '/v1/secrets', {
    body: {
      name,
      projectId: project.id,
      ...(env === undefined ? {} : { envId: env.id }),
      value,
      ...(options.redeployOnRotation === true ? { redeployOnRotation: true } : {}),
    },
  })
  if (ctx.out.json) return ctx.out.document(shown(secret))
  ctx.out.line(
    `secret ${secret.name} stored (version ${secret.currentVersion}): deploy.yaml names it ${secret.ref}`,
  )
}

export async function list(ctx: RunContext, _args: string[], options: { project?: string; env?: string }) {
  const { project, env } = await scopeOf(ctx, options)
  const { items } = await ctx.client.request<{ items: Secret[] }>('GET', '/v1/secrets', {
    query: { projectId: project.id, envId: env?.id },
  })
  if (ctx.out.json) return ctx.out.document({ items: items.map(shown) })
  if (items.length === 0) return ctx.out.line(`${project.slug} has no secrets`)
  ctx.out.table([
    ['ID', 'NAME', 'SCOPE', 'VERSION', 'UPDATED'],
    ...items.map((s) => [
      s.id,
      s.name,
      s.envId === null ? 'project' : `environment ${s.envId}`,
      String(s.currentVersion),
      s.updatedAt,
    ]),
  ])
}

export async function rotate(
  ctx: RunContext,
  [named]: string[],
  options: { project?: string; env?: string },
): Promise<void> {
  let id = named as string
  if (!isId(id)) {
    const { project, env } = await scopeOf(ctx, options)
    const { items } = await ctx.client.request<{ items: Secret[] }>('GET', '/v1/secrets', {
      query: { projectId: project.id, envId: env?.id },
    })
    // Without --env, the project's secret of that name; with it, the environment's.
    const found = items.find((s) => s.name === named && s.envId === (env?.id ?? null))
    if (found === undefined)
      throw new CliError(
        `no secret ${named} in ${project.slug}${env === undefined ? '' : ` ${env.name}`}`,
        ExitCode.notFound,
      )
    id = found.id
  }
  const value = await secretInput(`new value of ${named}`)
  const secret = await ctx.client.request<Secret>('POST', `/v1/secrets/${id}/rotate`, { body: { value } })
  if (ctx.out.json) return ctx.out.document(shown(secret))
  ctx.out.line(`secret ${secret.name} rotated: version ${secret.currentVersion}`)
}
