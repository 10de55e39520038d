// rxt projects list|create|use and rxt envs list|create.
import type { RunContext } from '../context.ts'
import { environmentsOf, type ProjectRef, resolveProject } from '../resolve.ts'

export async function list(ctx: RunContext): Promise<void> {
  const { items } = await ctx.client.request<{ items: ProjectRef[] }>('GET', '/v1/projects')
  if (ctx.out.json) return ctx.out.document({ items })
  if (items.length === 0) return ctx.out.line('no projects: create one with rxt projects create <slug>')
  ctx.out.table([
    ['ID', 'SLUG', 'NAME', 'REPOSITORY', 'CURRENT'],
    ...items.map((p) => [
      p.id,
      p.slug,
      p.name,
      p.repository ?? '-',
      p.id === ctx.settings.project || p.slug === ctx.settings.project ? '*' : '',
    ]),
  ])
}

export interface CreateProjectOptions {
  readonly name?: string
  readonly repository?: string
  readonly deployBranch?: string[]
  readonly ciWorkflow?: string
  readonly ciImage?: string
  readonly showWebhookSecret?: boolean
}

/** The body of POST /v1/projects for `rxt projects create <slug>`'s options. */
export function createProjectBody(slug: string, options: CreateProjectOptions): Record<string, unknown> {
  return {
    slug,
    name: options.name ?? slug,
    ...(options.repository === undefined ? {} : { repository: options.repository }),
    ...(options.deployBranch === undefined ? {} : { deployBranches: options.deployBranch }),
    ...(options.ciWorkflow === undefined && options.ciImage === undefined
      ? {}
      : { ci: { workflow: options.ciWorkflow ?? 'build.yml', image: options.ciImage } }),
  }
}

export async function create(
  ctx: RunContext,
  [slug]: string[],
  options: CreateProjectOptions,
): Promise<void> {
  const project = await ctx.client.request<ProjectRef & { webhook: { url: string; secret: string } }>(
    'POST',
    '/v1/projects',
    { body: createProjectBody(slug as string, options) },
  )
  const show = options.showWebhookSecret === true
  // The webhook secret is shown once, and only when asked for.
  const { secret, ...webhook } = project.webhook
  const shown = { ...project, webhook: show ? project.webhook : webhook }
  if (ctx.out.json) return ctx.out.document(shown)
  ctx.out.line(`project ${project.slug} created: ${project.id}`)
  ctx.out.line(`webhook URL     ${webhook.url}`)
  if (show) ctx.out.line(`webhook secret  ${secret} (shown once)`)
  else ctx.out.note('the webhook secret is not shown: rxt webhook rotate --show-secret makes a new one')
}

export async function use(ctx: RunContext, [named]: string[]): Promise<void> {
  const project = await resolveProject(ctx.client, named)
  await ctx.saveConfig({ project: project.id })
  if (ctx.out.json) return ctx.out.document(project)
  ctx.out.line(`using project ${project.slug} (${project.id})`)
}

export async function listEnvs(
  ctx: RunContext,
  _args: string[],
  options: { project?: string },
): Promise<void> {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const items = await environmentsOf(ctx.client, project.id)
  if (ctx.out.json) return ctx.out.document({ items })
  if (items.length === 0)
    return ctx.out.line(`${project.slug} has no environments: rxt envs create <name> --type <type>`)
  ctx.out.table([['ID', 'NAME', 'TYPE'], ...items.map((e) => [e.id, e.name, e.type])])
}

export async function createEnv(
  ctx: RunContext,
  [name]: string[],
  options: { project?: string; type: string; promotionOrder?: number },
): Promise<void> {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const env = await ctx.client.request<{ id: string; name: string; type: string }>(
    'POST',
    `/v1/projects/${project.id}/environments`,
    {
      body: {
        name,
        type: options.type,
        ...(options.promotionOrder === undefined ? {} : { promotionOrder: options.promotionOrder }),
      },
    },
  )
  if (ctx.out.json) return ctx.out.document(env)
  ctx.out.line(`environment ${env.name} (${env.type}) created in ${project.slug}: ${env.id}`)
}
