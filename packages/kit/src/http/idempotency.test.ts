import { setTimeout as sleep } from 'node:timers/promises'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Principal } from '../auth/access.ts'
import { defineContext } from '../context.ts'
import { migration } from '../db/migrations.ts'
import { AuthenticationError } from '../errors.ts'
import { createLogger } from '../log.ts'
import type { Runtime } from '../runtime.ts'
import { dbTargets, type TestDatabase } from '../testing/index.ts'
import { startTestRuntime } from '../testing/runtime.ts'

const _log = createLogger({ level: 'silent' })

/** A context whose POST /orders runs slowly and counts its runs; `fail: true` answers 500 once. */
const shop = (runs: { count: number }) =>
  defineContext({
    name: 'shop',
    migrations: [
      migration('0001_orders.sql', 'CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)'),
    ],
    authenticator: () => ({
      authenticate: async (header: string): Promise<Principal> => {
        const m = /^Bearer (\w+)$/.exec(header)
        if (m === null) throw new AuthenticationError('unknown token')
        return { kind: 'user', id: m[1] as string, userId: m[1], operator: false, orgs: new Map() }
      },
    }),
    routes: (app, { db }) => {
      let failed = false
      app.post(
        '/orders',
        {
          config: { auth: { authenticated: true } },
          schema: { body: Type.Object({ item: Type.String(), fail: Type.Optional(Type.Boolean()) }) },
        },
        async (request, reply) => {
          runs.count++
          await sleep(200)
          if (request.body.fail === true && !failed) {
            failed = true
            throw new Error('the shop fell over')
          }
          const { rows } = await db.query<{ id: number }>(
            'INSERT INTO orders (item) VALUES ($1) RETURNING id',
            [request.body.item],
          )
          return reply.code(201).send({ id: rows[0]?.id, item: request.body.item })
        },
      )
    },
  })

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`Idempotency-Key on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    const runs = { count: 0 }
    const order = (key: string | undefined, body: object, who = 'ada') =>
      runtime.app.inject({
        method: 'POST',
        url: '/v1/orders',
        headers: { authorization: `Bearer ${who}`, ...(key === undefined ? {} : { 'idempotency-key': key }) },
        payload: body,
      })

    beforeAll(async () => {
      handle = await target.create()
      runtime = await startTestRuntime({ contexts: [shop(runs)], database: handle.database })
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('answers a repeated key with the stored response, and runs the request once', async () => {
      runs.count = 0
      const first = await order('k-1', { item: 'tea' })
      expect(first.statusCode).toBe(201)
      const again = await order('k-1', { item: 'tea' })
      expect(again.statusCode).toBe(201)
      expect(again.body).toBe(first.body)
      expect(again.headers['idempotent-replayed']).toBe('true')
      expect(runs.count).toBe(1)
      // Without a key, or from another caller, the same request runs again.
      expect((await order(undefined, { item: 'tea' })).json().id).not.toBe(first.json().id)
      expect((await order('k-1', { item: 'tea' }, 'bob')).json().id).not.toBe(first.json().id)
      expect(runs.count).toBe(3)
    })

    it('answers 422 when the key comes back with a different request', async () => {
      await order('k-2', { item: 'tea' })
      const other = await order('k-2', { item: 'coffee' })
      expect(other.statusCode).toBe(422)
      expect(other.headers['content-type']).toMatch(/problem\+json/)
      expect(other.json().detail).toMatch(/different request/)
    })

    it('makes concurrent duplicates wait for the first instead of running twice', async () => {
      runs.count = 0
      const answers = await Promise.all(Array.from({ length: 5 }, () => order('k-3', { item: 'cake' })))
      expect(new Set(answers.map((a) => a.body)).size).toBe(1)
      expect(answers.every((a) => a.statusCode === 201)).toBe(true)
      expect(runs.count).toBe(1)
    })

    it('keeps no response of a failed (5xx) request: a retry with the key runs', async () => {
      runs.count = 0
      expect((await order('k-4', { item: 'pie', fail: true })).statusCode).toBe(500)
      const retry = await order('k-4', { item: 'pie', fail: true })
      expect(retry.statusCode).toBe(201)
      expect(runs.count).toBe(2)
      expect((await order('bad key with spaces', { item: 'x' })).statusCode).toBe(400)
    })
  })
}
