import type { Envelope } from '@rxt/contracts'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Principal } from '../auth/access.ts'
import { tenantOf } from '../auth/guard.ts'
import { defineContext } from '../context.ts'
import type { ContextDb } from '../db/index.ts'
import { migration } from '../db/migrations.ts'
import { AuthenticationError, ConflictError } from '../errors.ts'
import type { Runtime } from '../runtime.ts'
import { until } from '../testing/bus.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { startTestRuntime } from '../testing/runtime.ts'

const orgA = '0b7d3c1e-2f4a-4b5c-8d6e-7f8091a2b3c4'

/** A context with tenant-scoped, public and read routes; its db is kept to break its outbox. */
const shop = (ran: { count: number }, keep: (db: ContextDb) => void) =>
  defineContext({
    name: 'shop',
    migrations: [migration('0001_orders.sql', 'CREATE TABLE orders (id serial PRIMARY KEY, item text)')],
    authenticator: () => ({
      authenticate: async (header: string): Promise<Principal> => {
        const m = /^Bearer (\w+)$/.exec(header)
        if (m === null) throw new AuthenticationError('unknown token')
        return {
          kind: 'user',
          id: m[1] as string,
          userId: m[1],
          operator: false,
          orgs: new Map([[orgA, { role: 'owner', permissions: ['projects:write', 'projects:read'] }]]),
        }
      },
    }),
    start: (deps) => keep(deps.db),
    routes: (app) => {
      app.post(
        '/orgs/:orgId/orders',
        {
          config: { auth: { permission: 'projects:write' } },
          schema: {
            params: Type.Object({ orgId: Type.String() }),
            body: Type.Object({ item: Type.String() }),
          },
        },
        async (request, reply) => {
          tenantOf(request)
          ran.count++
          if (request.body.item === 'taken') throw new ConflictError('that item is taken: the secret detail')
          return reply.code(201).send({ ok: true })
        },
      )
      app.get(
        '/orgs/:orgId/orders',
        {
          config: { auth: { permission: 'projects:read' } },
          schema: { params: Type.Object({ orgId: Type.String() }) },
        },
        async () => ({ items: [] }),
      )
      app.delete(
        '/tokens/:token',
        {
          config: { auth: { public: 'the token is the credential' }, secretPath: true },
          schema: { params: Type.Object({ token: Type.String() }) },
        },
        async (_request, reply) => reply.code(204).send(),
      )
    },
  })

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`the HTTP layer's audit records on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let shopDb: ContextDb | undefined
    const ran = { count: 0 }
    const audited: Envelope[] = []
    const listener = defineContext({
      name: 'listener',
      handlers: () => [
        { id: 'audited', types: ['evt.request.audited'], handle: async (m) => void audited.push(m) },
      ],
    })
    const recordOf = async (requestId: string) => {
      await until(
        async () => audited.some((m) => (m.data as { requestId: string }).requestId === requestId),
        5000,
      )
      return audited.find((m) => (m.data as { requestId: string }).requestId === requestId) as Envelope<{
        actor: string
        action: string
        object: string
        context: string
        outcome: { status: number; problem: string | null }
      }>
    }

    beforeAll(async () => {
      handle = await target.create()
      runtime = await startTestRuntime({
        contexts: [shop(ran, (db) => (shopDb = db)), listener],
        database: handle.database,
      })
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('records a mutating request with its actor, route, path, tenant and outcome; no query or body', async () => {
      const res = await runtime.app.inject({
        method: 'POST',
        url: `/v1/orgs/${orgA}/orders?coupon=SECRET1`,
        headers: { authorization: 'Bearer ada', 'x-request-id': 'req-audit-1' },
        payload: { item: 'tea-with-a-body-value' },
      })
      expect(res.statusCode).toBe(201)
      const record = await recordOf('req-audit-1')
      expect(record.tenantId).toBe(orgA)
      expect(record.actor).toBe('user:ada')
      expect(record.data).toEqual({
        actor: 'user:ada',
        action: 'POST /v1/orgs/:orgId/orders',
        object: `/v1/orgs/${orgA}/orders`,
        context: 'shop',
        requestId: 'req-audit-1',
        outcome: { status: 201, problem: null },
        at: expect.any(String),
      })
      expect(JSON.stringify(record)).not.toMatch(/SECRET1|tea-with-a-body-value/)
    })

    it('records refusals: the problem type only, and anonymous callers; a secret path by its route', async () => {
      const conflict = await runtime.app.inject({
        method: 'POST',
        url: `/v1/orgs/${orgA}/orders`,
        headers: { authorization: 'Bearer ada', 'x-request-id': 'req-audit-2' },
        payload: { item: 'taken' },
      })
      expect(conflict.statusCode).toBe(409)
      const refused = await recordOf('req-audit-2')
      expect(refused.data.outcome).toEqual({ status: 409, problem: 'urn:rxt:problem:conflict' })
      expect(JSON.stringify(refused)).not.toContain('secret detail')

      const anonymous = await runtime.app.inject({
        method: 'POST',
        url: `/v1/orgs/${orgA}/orders`,
        headers: { 'x-request-id': 'req-audit-3' },
        payload: { item: 'tea' },
      })
      expect(anonymous.statusCode).toBe(401)
      const unauthenticated = await recordOf('req-audit-3')
      expect(unauthenticated.data.actor).toBe('anonymous')
      // No organisation was let in: the platform's own trail.
      expect(unauthenticated.tenantId).toBeNull()
      expect(unauthenticated.data.outcome.status).toBe(401)

      await runtime.app.inject({
        method: 'DELETE',
        url: '/v1/tokens/tok-s3cret',
        headers: { 'x-request-id': 'req-audit-4' },
      })
      const secret = await recordOf('req-audit-4')
      expect(secret.data.object).toBe('/v1/tokens/:token')
      expect(JSON.stringify(secret)).not.toContain('tok-s3cret')
    })

    it('records no read', async () => {
      const res = await runtime.app.inject({
        method: 'GET',
        url: `/v1/orgs/${orgA}/orders`,
        headers: { authorization: 'Bearer ada', 'x-request-id': 'req-audit-get' },
      })
      expect(res.statusCode).toBe(200)
      // A later mutation's record arrives: the read's would have been before it.
      await runtime.app.inject({
        method: 'DELETE',
        url: '/v1/tokens/t',
        headers: { 'x-request-id': 'req-audit-after' },
      })
      await recordOf('req-audit-after')
      expect(audited.some((m) => (m.data as { requestId: string }).requestId === 'req-audit-get')).toBe(false)
    })

    it('gives reads none of its hooks, nor those of Idempotency-Key: only mutating routes carry them', () => {
      // printRoutes lists each route with every hook it runs, the app's and its own.
      const lines = runtime.app.printRoutes({ includeHooks: true, commonPrefix: false }).split('\n')
      /** The hook lines (• …) under a route's line. */
      const hooksOf = (method: string, path: string) => {
        const at = lines.findIndex((line) => line.endsWith(`${path} (${method})`))
        expect(at, `${method} ${path} is listed`).toBeGreaterThanOrEqual(0)
        const end = lines.findIndex((line, i) => i > at && !line.includes('•'))
        return lines.slice(at + 1, end === -1 ? undefined : end).join('\n')
      }
      const read = hooksOf('GET', '/v1/orgs/:orgId/orders')
      expect(read).not.toContain('auditRecord')
      expect(read).not.toContain('idempotentResponse')
      const write = hooksOf('POST', '/v1/orgs/:orgId/orders')
      expect(write).toContain('auditRecord')
      expect(write).toContain('idempotentResponse')
      // A public mutation is recorded, and claims no key (it has no caller to keep a response for).
      const publicWrite = hooksOf('DELETE', '/v1/tokens/:token')
      expect(publicWrite).toContain('auditRecord')
      expect(publicWrite).not.toContain('idempotentResponse')
    })

    it('answers 503 rather than acknowledge a mutation whose record cannot be written', async () => {
      const db = shopDb as ContextDb
      await db.query('ALTER TABLE rxt_outbox RENAME TO rxt_outbox_away')
      try {
        const before = ran.count
        const res = await runtime.app.inject({
          method: 'POST',
          url: `/v1/orgs/${orgA}/orders`,
          headers: { authorization: 'Bearer ada' },
          payload: { item: 'tea' },
        })
        expect(ran.count).toBe(before + 1)
        expect(res.statusCode).toBe(503)
        expect(res.json().detail).toMatch(/audit trail/)
      } finally {
        await db.query('ALTER TABLE rxt_outbox_away RENAME TO rxt_outbox')
      }
    })
  })
}
