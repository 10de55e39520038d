// What the command line parses before anything is sent: numbers are whole numbers in their range, and
// anything else is a usage error (exit 2).
import { CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { createClient } from './client.ts'
import { orgsOf } from './commands/orgs.ts'
import { createProgram, integer } from './program.ts'

describe('numeric options', () => {
  it('take whole numbers in their range and refuse the rest', () => {
    expect(integer(1, 100)('20')).toBe(20)
    for (const bad of ['abc', '', '1.5', '-3', '1e3', '0x10', '101', '0'])
      expect(() => integer(1, 100)(bad), bad).toThrow(CommanderError)
    expect(integer(0)('0')).toBe(0)
  })

  it.each([
    ['deployments', '--limit', 'ten'],
    ['deployments', '--limit', '0'],
    ['audit', '--limit', '5x'],
    ['envs', 'create', 'qa', '--type', 'staging', '--promotion-order', 'first'],
  ])('rxt %s %s %s… is a usage error before any request', async (...args) => {
    const program = createProgram('0.0.0')
    for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)])
      command.configureOutput({ writeErr: () => {}, writeOut: () => {} })
    const parsed = program.parseAsync(args, { from: 'user' })
    await expect(parsed).rejects.toBeInstanceOf(CommanderError)
    await expect(parsed).rejects.toMatchObject({ code: 'commander.invalidArgument' })
  })
})

describe('the organisations of an API key', () => {
  it('come from /v1/auth/whoami when /v1/me answers 404', async () => {
    const asked: string[] = []
    const client = createClient({
      url: 'http://rxt.test',
      credentials: { kind: 'api-key', apiKey: 'k' },
      org: undefined,
      fetch: async (url) => {
        const path = new URL(String(url)).pathname
        asked.push(path)
        if (path === '/v1/me')
          return new Response(JSON.stringify({ status: 404, detail: 'an API key has no account' }), {
            status: 404,
          })
        return new Response(
          JSON.stringify({
            kind: 'api-key',
            id: 'key-1',
            userId: null,
            operator: false,
            orgs: [{ id: 'org-1', role: 'developer', permissions: [] }],
            everyOrg: null,
          }),
          { status: 200 },
        )
      },
    })
    expect(await orgsOf({ client })).toEqual([{ id: 'org-1', role: 'developer' }])
    expect(asked).toEqual(['/v1/me', '/v1/auth/whoami'])
  })
})
