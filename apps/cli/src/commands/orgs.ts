// rxt orgs list|create|use: the organisations of the signed-in account, and the one commands act in.
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'

interface Org {
  readonly id: string
  readonly name: string
  readonly role?: string
}

const orgsOf = async (ctx: RunContext) => (await ctx.client.request<{ orgs: Org[] }>('GET', '/v1/me')).orgs

export async function list(ctx: RunContext): Promise<void> {
  const orgs = await orgsOf(ctx)
  if (ctx.out.json) return ctx.out.document({ items: orgs })
  ctx.out.table([
    ['ID', 'NAME', 'ROLE', 'CURRENT'],
    ...orgs.map((o) => [o.id, o.name, o.role ?? '', o.id === ctx.settings.org ? '*' : '']),
  ])
}

export async function create(ctx: RunContext, [name]: string[]): Promise<void> {
  const org = await ctx.client.request<Org>('POST', '/v1/orgs', { body: { name } })
  if (ctx.out.json) return ctx.out.document(org)
  ctx.out.line(`organisation ${org.name} created: ${org.id}`)
  ctx.out.note(`act in it: rxt orgs use ${org.id}`)
}

export async function use(ctx: RunContext, [named]: string[]): Promise<void> {
  const orgs = await orgsOf(ctx)
  const org = orgs.find((o) => o.id === named) ?? orgs.find((o) => o.name === named)
  if (org === undefined) throw new CliError(`no organisation ${named} of yours`, ExitCode.notFound)
  // Another organisation's projects are not this one's: the default project goes.
  await ctx.saveConfig({ org: org.id, ...(org.id === ctx.stored.org ? {} : { project: undefined }) })
  if (ctx.out.json) return ctx.out.document(org)
  ctx.out.line(`acting in ${org.name} (${org.id})`)
}
