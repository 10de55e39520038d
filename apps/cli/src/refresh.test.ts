// Refreshing a sign-in whose access token expired, as several rxt processes do at once: refresh tokens
// are single use (presenting a used one ends the sign-in), so only one process refreshes and the others
// take the tokens it stored. The server here keeps that rule; the config file is a real one.
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunContext } from './context.ts'
import { ExitCode } from './exit-codes.ts'

const body = async (request: IncomingMessage) => {
  let text = ''
  for await (const chunk of request) text += chunk
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
}

/** A server of one sign-in: access tokens a<n>, refresh tokens r<n>, each refresh token used once. */
function identityServer(options: { refreshesWaitFor?: number } = {}) {
  let generation = 0
  let ended = false
  const used = new Set<string>()
  let refused = 0
  const waiting: (() => void)[] = []
  const state = {
    refreshes: 0,
    get ended() {
      return ended
    },
  }
  const handler = async (request: IncomingMessage, response: ServerResponse) => {
    const problem = (status: number, detail: string) => {
      response.writeHead(status, { 'content-type': 'application/problem+json' })
      response.end(JSON.stringify({ status, detail }))
    }
    if (request.url === '/v1/auth/refresh') {
      const { refreshToken } = (await body(request)) as { refreshToken: string }
      state.refreshes++
      // Held until every client has been refused once: the refreshes would race without the lock.
      if (refused < (options.refreshesWaitFor ?? 0)) await new Promise<void>((r) => waiting.push(r))
      if (ended || used.has(refreshToken) || refreshToken !== `r${generation}`) {
        ended = true
        return problem(401, 'the refresh token is not valid')
      }
      used.add(refreshToken)
      generation++
      response.writeHead(200, { 'content-type': 'application/json' })
      return response.end(JSON.stringify({ accessToken: `a${generation}`, refreshToken: `r${generation}` }))
    }
    if (ended || request.headers.authorization !== `Bearer a${generation}`) {
      refused++
      if (refused >= (options.refreshesWaitFor ?? 0)) for (const go of waiting.splice(0)) go()
      return problem(401, 'the access token expired')
    }
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ kind: 'user', id: 'u-1', operator: false, orgs: [] }))
  }
  return { handler, state }
}

describe('refreshing a sign-in', () => {
  const cleanup: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0)) await step()
  })
  const setUp = async (options: { refreshesWaitFor?: number } = {}) => {
    const identity = identityServer(options)
    const server = createServer((request, response) => void identity.handler(request, response))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const dir = await mkdtemp(join(tmpdir(), 'rxt-refresh-'))
    cleanup.push(async () => {
      server.closeAllConnections()
      server.close()
      await rm(dir, { recursive: true, force: true })
    })
    const file = join(dir, 'rxt', 'config.json')
    const env = { XDG_CONFIG_HOME: dir, RXT_URL: url }
    // Signed in (generation 0) long enough ago that the access token expired.
    const ctx = await createRunContext({ json: true }, env)
    await ctx.saveConfig({ url, accessToken: 'expired', refreshToken: 'r0', org: 'o-1' })
    return { identity, file, env }
  }

  it('refreshes once when two processes are refused together: both go on, the sign-in lives', async () => {
    const { identity, file, env } = await setUp({ refreshesWaitFor: 2 })
    // Two runs of rxt, each with the file as it was when it started.
    const first = await createRunContext({ json: true }, env)
    const second = await createRunContext({ json: true }, env)
    const [a, b] = await Promise.all([
      first.client.request('GET', '/v1/auth/whoami'),
      second.client.request('GET', '/v1/auth/whoami'),
    ])
    expect(a).toMatchObject({ kind: 'user' })
    expect(b).toMatchObject({ kind: 'user' })
    expect(identity.state.ended).toBe(false)
    expect(identity.state.refreshes).toBe(1)
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      url: env.RXT_URL,
      accessToken: 'a1',
      refreshToken: 'r1',
      org: 'o-1',
    })
    // A third run starts from the file: its tokens work.
    const third = await createRunContext({ json: true }, env)
    await expect(third.client.request('GET', '/v1/auth/whoami')).resolves.toMatchObject({ kind: 'user' })
  })

  it('refreshes once for the requests of one process refused together', async () => {
    const { identity, env } = await setUp({ refreshesWaitFor: 3 })
    const ctx = await createRunContext({ json: true }, env)
    const answers = await Promise.all([1, 2, 3].map(() => ctx.client.request('GET', '/v1/auth/whoami')))
    expect(answers).toHaveLength(3)
    expect(identity.state.refreshes).toBe(1)
    expect(identity.state.ended).toBe(false)
  })

  it('saves only the keys it changes: what another process stored meanwhile stays', async () => {
    const { file, env } = await setUp()
    const early = await createRunContext({ json: true }, env)
    const other = await createRunContext({ json: true }, env)
    await other.client.request('GET', '/v1/auth/whoami')
    // `early` read the file before the refresh; choosing a project keeps the new tokens.
    await early.saveConfig({ project: 'p-1' })
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({
      accessToken: 'a1',
      refreshToken: 'r1',
      project: 'p-1',
    })
  })

  it('says the sign-in ended (exit 3) and forgets the tokens when the refresh is refused', async () => {
    const { file, env } = await setUp()
    const stored = JSON.parse(await readFile(file, 'utf8'))
    await writeFile(file, JSON.stringify({ ...stored, refreshToken: 'r-revoked' }))
    const ctx = await createRunContext({ json: true }, env)
    await expect(ctx.client.request('GET', '/v1/auth/whoami')).rejects.toMatchObject({
      message: 'the sign-in ended: rxt login',
      exitCode: ExitCode.auth,
    })
    const after = JSON.parse(await readFile(file, 'utf8'))
    expect(after).toEqual({ url: env.RXT_URL, org: 'o-1' })
  })
})
