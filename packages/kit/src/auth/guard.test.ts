import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineContext } from '../context.ts'
import { type Database, openDatabase } from '../db/index.ts'
import { AuthenticationError } from '../errors.ts'
import { createLogger } from '../log.ts'
import type { Runtime } from '../runtime.ts'
import { currentScope } from '../scope.ts'
import { startTestRuntime } from '../testing/runtime.ts'
import type { Principal } from './access.ts'

const lines: Record<string, unknown>[] = []
const destination = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
    done()
  },
})

/** One user who reads org-a, and a route that reports the scope its handler runs in. */
const app = defineContext({
  name: 'scoped',
  authenticator: () => ({
    authenticate: async (header: string): Promise<Principal> => {
      if (header !== 'Bearer ada') throw new AuthenticationError('unknown token')
      return {
        kind: 'user',
        id: 'ada',
        userId: 'ada',
        operator: false,
        orgs: new Map([['org-a', { role: 'viewer', permissions: ['org:read'] }]]),
      }
    },
  }),
  routes: (http) => {
    http.get('/orgs/:orgId/scope', { config: { auth: { permission: 'org:read' } } }, async (request) => ({
      scope: currentScope(),
      orgId: request.orgId,
    }))
  },
})

describe('the guard', () => {
  let database: Database
  let runtime: Runtime
  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite' }, createLogger({ level: 'silent' }))
    runtime = await startTestRuntime({
      contexts: [app],
      database,
      log: createLogger({ level: 'info', destination }),
    })
  })
  afterAll(async () => {
    await runtime?.stop()
    await database?.close()
  })

  it('runs the handler with the tenant and the actor on its scope, and logs them with the request', async () => {
    const res = await runtime.app.inject({
      url: '/v1/orgs/org-a/scope',
      headers: { authorization: 'Bearer ada', 'x-request-id': 'req-42' },
    })
    expect(res.json()).toEqual({
      scope: { correlationId: 'req-42', tenantId: 'org-a', actor: 'user:ada' },
      orgId: 'org-a',
    })
    expect(lines.find((l) => l.msg === 'request completed' && l.correlationId === 'req-42')).toMatchObject({
      tenantId: 'org-a',
      actor: 'user:ada',
      statusCode: 200,
    })
  })

  it('answers 404 for an organisation the caller is not in, and 401 without credentials', async () => {
    const other = await runtime.app.inject({
      url: '/v1/orgs/org-b/scope',
      headers: { authorization: 'Bearer ada' },
    })
    expect(other.statusCode).toBe(404)
    expect(other.json().detail).toBe('no organisation org-b')
    expect((await runtime.app.inject({ url: '/v1/orgs/org-a/scope' })).statusCode).toBe(401)
  })
})
