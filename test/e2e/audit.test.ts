// Every mutating operation of every context in this build leaves an audit record. Operations are found
// in the OpenAPI document, so a new endpoint is covered the day it is added: each is called once (refused
// or not: a refusal is recorded too), then the audit context's trails must hold a record whose action is
// that operation's method and route template.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { audit, createAudit, parseSigningKey } from '@rxt/audit'
import { createLogger, loadMigrations, type Runtime, systemClock } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalog } from '../../apps/server/src/catalog.ts'

const [pglite] = dbTargets()
const mutating = ['post', 'put', 'patch', 'delete']
const seed = randomBytes(32).toString('base64url')

describe('the audit trail covers every mutating operation of the API', () => {
  let handle: TestDatabase
  let runtime: Runtime

  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
    runtime = await startTestRuntime({
      contexts: catalog,
      database: handle.database,
      env: {
        WEBHOOK_KEY: randomBytes(32).toString('base64url'),
        SECRETS_KEY: randomBytes(32).toString('base64url'),
        AUDIT_SIGNING_KEY: seed,
      },
    })
  }, 60_000)
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  it('records each one with its method and route template', async () => {
    expect(catalog).toContain(audit)
    const operator = await signUp(runtime, 'op@audit.example')
    const doc = runtime.app.swagger() as { paths: Record<string, Record<string, unknown>> }
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((method) => mutating.includes(method))
        .map((method) => ({ method: method.toUpperCase(), path })),
    )
    expect(operations.length).toBeGreaterThanOrEqual(20)

    // Path parameters get a value of the right shape that names nothing: the call is refused, and recorded.
    const filled = (path: string) =>
      path.replace(/\{(\w+)\}/g, (_, name: string) =>
        name === 'orgId' ? operator.orgId : '00000000-0000-4000-8000-000000000000',
      )
    const expected = new Set<string>()
    for (const op of operations) {
      // OpenAPI writes {param}; the route template (what the record names) is Fastify's :param.
      expected.add(`${op.method} ${op.path.replace(/\{(\w+)\}/g, ':$1')}`)
      const res = await runtime.app.inject({
        method: op.method as 'POST',
        url: filled(op.path),
        headers: { authorization: operator.authorization, 'x-rxt-org': operator.orgId },
        ...(op.method === 'DELETE' ? {} : { payload: {} }),
      })
      expect(res.statusCode, `${op.method} ${op.path}`).toBeGreaterThanOrEqual(200)
    }

    // Read through the audit context's own role: every tenant's trail, whoever could still sign in.
    const db = await handle.database.openContext(
      'audit',
      await loadMigrations(new URL('../../services/audit/migrations/', import.meta.url)),
    )
    const reader = createAudit({
      db,
      log: createLogger({ level: 'silent' }),
      clock: systemClock,
      key: parseSigningKey(seed),
      checkpointEvery: 1000,
      publish: async () => undefined,
    })
    const recorded = async () => {
      const { rows } = await db.query<{ tenant: string }>('SELECT tenant FROM chain_heads')
      const actions = new Set<string>()
      for (const { tenant } of rows) {
        for (const record of await reader.list(tenant, {}, 100_000)) {
          if (record.source === 'http') actions.add(record.action)
        }
      }
      return actions
    }
    // Recorded through the bus: polled gently (PGlite has one connection for every context).
    let missing: string[] = []
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) {
      const actions = await recorded()
      missing = [...expected].filter((action) => !actions.has(action))
      if (missing.length === 0) break
    }
    expect(missing).toEqual([])
    // And every tenant's chain verifies.
    const { rows } = await db.query<{ tenant: string }>('SELECT tenant FROM chain_heads')
    for (const { tenant } of rows) expect((await reader.verify(tenant)).ok, tenant).toBe(true)
  }, 120_000)
})
