// rxt orgs list|create|use: the organisations of the signed-in account, and the one commands act in.
import { ApiError } from '../client.ts'
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'

interface Org {
  readonly id: string
  /** Absent for an API key (GET /v1/auth/whoami names its organisation by id only). */
  readonly name?: string
  readonly role?: string
}

/**
 * The organisations of whoever is signed in: an account's from GET /v1/me, an API key's (which /v1/me
 * answers 404) from GET /v1/auth/whoami.
 */
export async function orgsOf(ctx: Pick<RunContext, 'client'>): Promise<Org[]> {
  try {
    return (await ctx.client.request<{ orgs: Org[] }>('GET', '/v1/me')).orgs
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error
    const who = await ctx.client.request<{ orgs: { id: string; role: string }[] }>('GET', '/v1/auth/whoami')
    return who.orgs.map((o) => ({ id: o.id, role: o.role }))
  }
}

export async function list(ctx: RunContext): Promise<void> {
  const orgs = await orgsOf(ctx)
  if (ctx.out.json) return ctx.out.document({ items: orgs })
  ctx.out.table([
    ['ID', 'NAME', 'ROLE', 'CURRENT'],
    ...orgs.map((o) => [o.id, o.name ?? '', o.role ?? '', o.id === ctx.settings.org ? '*' : '']),
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
  ctx.out.line(org.name === undefined ? `acting in ${org.id}` : `acting in ${org.name} (${org.id})`)
}
