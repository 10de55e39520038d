// rxt webhook [rotate]: a project's GitHub webhook: its URL and whether a delivery proved it, and a new
// secret (shown once, and only on --show-secret).
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'
import { resolveProject } from '../resolve.ts'

export async function show(ctx: RunContext, _args: string[], options: { project?: string }): Promise<void> {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const view = {
    projectId: project.id,
    url: project.webhookUrl,
    repository: project.repository ?? null,
    verifiedAt: project.repositoryVerifiedAt ?? null,
  }
  if (ctx.out.json) return ctx.out.document(view)
  ctx.out.line(`webhook URL  ${view.url}`)
  ctx.out.line(`repository   ${view.repository ?? '-'}`)
  ctx.out.line(`verified     ${view.verifiedAt ?? 'not yet (GitHub sends a ping when the webhook is added)'}`)
}

export async function rotate(
  ctx: RunContext,
  _args: string[],
  options: { project?: string; showSecret?: boolean },
): Promise<void> {
  if (options.showSecret !== true)
    throw new CliError('a rotation shows the new secret once: pass --show-secret', ExitCode.usage, [
      "the old secret stops verifying at once: set the new one in the repository's webhook settings",
    ])
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const webhook = await ctx.client.request<{ url: string; secret: string }>(
    'POST',
    `/v1/projects/${project.id}/webhook/rotate`,
  )
  if (ctx.out.json) return ctx.out.document(webhook)
  ctx.out.line(`webhook URL     ${webhook.url}`)
  ctx.out.line(`webhook secret  ${webhook.secret} (shown once; the old one no longer verifies)`)
}
