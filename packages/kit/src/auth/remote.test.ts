import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineContext } from '../context.ts'
import { type Database, openDatabase } from '../db/index.ts'
import { AuthenticationError } from '../errors.ts'
import { createLogger } from '../log.ts'
import type { Runtime } from '../runtime.ts'
import { startTestRuntime } from '../testing/runtime.ts'
import type { Principal } from './access.ts'
import { whoAmI } from './remote.ts'

const log = createLogger({ level: 'silent' })

/**
 * Process A runs an authenticating context that answers GET /v1/auth/whoami (as identity does);
 * process B runs no authenticator and is given IDENTITY_URL = A.
 */
const whoami = defineContext({
  name: 'whoami',
  authenticator: () => ({
    authenticate: async (header: string): Promise<Principal> => {
      if (header === 'Service deployer')
        return {
          kind: 'service',
          id: 'deployer',
          userId: undefined,
          operator: false,
          orgs: new Map(),
          everyOrg: { role: 'service', permissions: ['org:read'] },
        }
      if (!['Bearer operator', 'Bearer member', 'Bearer malformed', 'Bearer html'].includes(header))
        throw new AuthenticationError('the access token is invalid')
      return {
        kind: 'user',
        id: header.slice(7),
        userId: header.slice(7),
        operator: header === 'Bearer operator',
        orgs: new Map([['org-1', { role: 'viewer', permissions: ['org:read'] }]]),
      }
    },
  }),
  routes: (app) => {
    app.get('/auth/whoami', { config: { auth: { authenticated: true } } }, async (request, reply) => {
      // What a wrong IDENTITY_URL (another service, a proxy's page) might answer with a 200.
      if (request.headers.authorization === 'Bearer malformed')
        return reply.send({ kind: 'user', id: 7, orgs: 'everything', operator: 'yes' })
      if (request.headers.authorization === 'Bearer html')
        return reply.type('text/html').send('<html><body>Welcome</body></html>')
      return whoAmI(request.principal as Principal)
    })
  },
})

/** A tenant route in process B. */
const tenantRoute = defineContext({
  name: 'tenant',
  routes: (app) => {
    app.get('/orgs/:orgId/thing', { config: { auth: { permission: 'org:read' } } }, async (request) => ({
      orgId: request.orgId,
    }))
    app.post('/orgs/:orgId/thing', { config: { auth: { permission: 'org:manage' } } }, async () => ({}))
  },
})

describe('authenticating through another process (IDENTITY_URL)', () => {
  let database: Database
  let a: Runtime
  let b: Runtime
  const start = async (contexts: (typeof whoami | typeof tenantRoute)[], env: Record<string, string>) =>
    startTestRuntime({ contexts, database, env, mode: 'distributed' })

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite' }, log)
    a = await start([whoami], {})
    const url = await a.listen()
    b = await start([tenantRoute], { IDENTITY_URL: url })
  })
  afterAll(async () => {
    await b?.stop()
    await a?.stop()
    await database?.close()
  })

  it('admits what the identity process admits, refuses what it refuses, and says when it is gone', async () => {
    const get = (authorization?: string) =>
      b.app.inject({
        url: '/v1/admin/consumers',
        headers: authorization === undefined ? {} : { authorization },
      })
    expect((await get('Bearer operator')).statusCode).toBe(200)
    expect((await get('Bearer member')).statusCode).toBe(403)
    const forged = await get('Bearer forged')
    expect(forged.statusCode).toBe(401)
    expect(forged.json().detail).toBe('the access token is invalid')
    expect((await get()).statusCode).toBe(401)
    // A service acts in the organisation it names, with its permissions only.
    const service = { authorization: 'Service deployer' }
    const org = '01a2061e-443a-7078-8f1d-88590fe71d5b'
    const read = await b.app.inject({ url: `/v1/orgs/${org}/thing`, headers: service })
    expect(read.json()).toEqual({ orgId: org })
    expect(
      (await b.app.inject({ method: 'POST', url: `/v1/orgs/${org}/thing`, headers: service })).statusCode,
    ).toBe(403)
    // What a service names must be an organisation id: anything else is no organisation.
    expect((await b.app.inject({ url: '/v1/orgs/not-an-id/thing', headers: service })).statusCode).toBe(404)
    // An answer that is not a principal is the identity service's fault, said as such: never a 500, and
    // never taken for a principal.
    for (const odd of ['Bearer malformed', 'Bearer html']) {
      const res = await get(odd)
      expect(res.statusCode, odd).toBe(503)
      expect(res.headers['content-type']).toMatch(/problem\+json/)
      expect(res.json().detail).toMatch(/identity service .* answered something that is not a principal/)
    }
    await a.stop()
    // Known credentials are reused for a few seconds; unknown ones need the identity process.
    expect((await get('Bearer operator')).statusCode).toBe(200)
    const down = await get('Bearer other')
    expect(down.statusCode).toBe(503)
    expect(down.json().detail).toMatch(/identity service .* does not answer/)
  })
})
