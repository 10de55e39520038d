// rxt login, logout, whoami: a sign-in (email and password: tokens) or an API key, kept in the config
// file (0600); the organisation defaults to the only one the account has.
import { createClient } from '../client.ts'
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'
import { prompt, readStdin, secretInput } from '../stdin.ts'

interface Whoami {
  readonly kind: string
  readonly id: string
  readonly operator: boolean
  readonly orgs: readonly {
    readonly id: string
    readonly role: string
    readonly permissions: readonly string[]
  }[]
}

interface Me {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly operator: boolean
  readonly orgs: readonly { readonly id: string; readonly name: string; readonly role: string }[]
}

export async function login(
  ctx: RunContext,
  _args: string[],
  options: { email?: string; passwordStdin?: boolean; apiKey?: boolean; url?: string },
): Promise<void> {
  const url = (options.url ?? ctx.settings.url).replace(/\/+$/, '')
  if (options.apiKey === true) {
    const apiKey = await secretInput('API key')
    const whoami = await createClient({
      url,
      credentials: { kind: 'api-key', apiKey },
      org: undefined,
    }).request<Whoami>('GET', '/v1/auth/whoami')
    await ctx.saveConfig({
      url,
      apiKey,
      accessToken: undefined,
      refreshToken: undefined,
      email: undefined,
      org: whoami.orgs.length === 1 ? whoami.orgs[0]?.id : ctx.stored.org,
    })
    if (ctx.out.json) return ctx.out.document({ url, kind: 'api-key' })
    return ctx.out.line(`Signed in to ${url} with an API key`)
  }
  const email = options.email ?? (process.stdin.isTTY === true ? await prompt('Email: ') : undefined)
  if (email === undefined || email === '') throw new CliError('name the account with --email', ExitCode.usage)
  const password = options.passwordStdin === true ? await readStdin() : await secretInput('Password')
  const anonymous = createClient({ url, credentials: undefined, org: undefined })
  const tokens = await anonymous.request<{ accessToken: string; refreshToken: string }>(
    'POST',
    '/v1/auth/login',
    {
      body: { email, password },
    },
  )
  const me = await createClient({
    url,
    credentials: { kind: 'token', accessToken: tokens.accessToken },
    org: undefined,
  }).request<Me>('GET', '/v1/me')
  const org = me.orgs.length === 1 ? me.orgs[0]?.id : me.orgs.find((o) => o.id === ctx.stored.org)?.id
  await ctx.saveConfig({
    url,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    apiKey: undefined,
    email: me.email,
    org,
  })
  if (ctx.out.json) return ctx.out.document({ url, email: me.email, org: org ?? null })
  const orgName = me.orgs.find((o) => o.id === org)?.name
  ctx.out.line(
    `Signed in to ${url} as ${me.email}${orgName === undefined ? '' : ` (organisation ${orgName})`}`,
  )
  if (org === undefined && me.orgs.length > 1) ctx.out.note('choose an organisation: rxt orgs use <id|name>')
}

export async function logout(ctx: RunContext): Promise<void> {
  if (ctx.settings.credentialsFromFile && ctx.settings.credentials?.kind === 'token') {
    // Ends the sign-in on the server too; a server that cannot be reached still forgets it here.
    await ctx.client
      .request('POST', '/v1/auth/logout', {
        body: { refreshToken: ctx.settings.credentials.refreshToken },
      })
      .catch(() => undefined)
  }
  await ctx.saveConfig({
    accessToken: undefined,
    refreshToken: undefined,
    apiKey: undefined,
    email: undefined,
  })
  if (ctx.out.json) return ctx.out.document({ signedOut: true })
  ctx.out.line('Signed out')
}

export async function whoami(ctx: RunContext): Promise<void> {
  const who = await ctx.client.request<Whoami>('GET', '/v1/auth/whoami')
  if (ctx.out.json) return ctx.out.document(who)
  ctx.out.line(`server    ${ctx.settings.url}`)
  ctx.out.line(`${who.kind.padEnd(9)} ${who.id}${who.operator ? ' (platform operator)' : ''}`)
  for (const org of who.orgs)
    ctx.out.line(`org       ${org.id} ${org.role}${org.id === ctx.settings.org ? ' (current)' : ''}`)
}
