import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFreshPostgres } from '@rxt/kit/testing'
import { Validator } from '@seriousme/openapi-schema-validator'
import pg from 'pg'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { endChildren, runToEnd, type Server, slowScript, startBudgetMs, startServer } from './process.ts'

// Every child a test started ends when the test does, pass, fail or time out.
afterEach(endChildren)

/** A test's timeout: the budget of each process it starts or runs in sequence (measured, see startBudgetMs). */
const starts = (count: number) => ({ timeout: count * startBudgetMs })

const dataDir = () => mkdtemp(join(tmpdir(), 'rxt-data-'))

interface SystemInfo {
  instance: { id: string }
  boots: { count: number; first: { instanceId: string } }
}
const getJson = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T

async function expectServing(server: Server) {
  const health = await fetch(`${server.url}/healthz`)
  expect(health.status).toBe(200)
  const ready = await fetch(`${server.url}/readyz`)
  expect(ready.status).toBe(200)
  expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'ok', bus: 'ok' } })
  const doc = await getJson<{ openapi: string; paths: object }>(`${server.url}/openapi.json`)
  expect(doc.openapi).toBe('3.1.0')
  expect((await new Validator().validate(doc)).valid).toBe(true)
  expect(doc.paths).toHaveProperty('/v1/system')
}

describe('rxt-deploy up (embedded)', () => {
  // Two starts of the whole build on PGlite, the first creating the database: minutes on a loaded machine.
  it(
    'serves health, readiness and OpenAPI from ./.rxt and keeps its data across a stop and a start',
    starts(2),
    async () => {
      const dir = await dataDir()
      // How fast it comes up is measured by `npm run bench -- startup`, not asserted here.
      const first = await startServer(['up'], { RXT_DATA_DIR: dir })
      await expectServing(first)
      expect(existsSync(join(dir, 'pgdata'))).toBe(true)
      const before = await getJson<SystemInfo>(`${first.url}/v1/system`)
      expect(before).toMatchObject({
        mode: 'embedded',
        database: 'pglite',
        contexts: [
          'identity',
          'registry',
          'vcs',
          'sim',
          'spot',
          'sddc',
          'router',
          'placement',
          'policy',
          'secrets',
          'orchestrator',
          'vms',
          'audit',
          'system',
          'console',
          'gateway',
        ],
        boots: { count: 1 },
      })
      // An account made before the stop signs in after it.
      const account = {
        email: 'ada@example.com',
        password: 'a long passphrase',
        name: 'Ada',
        orgName: 'Acme',
      }
      const signup = await fetch(`${first.url}/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(account),
      })
      expect(signup.status).toBe(201)
      expect((await fetch(`${first.url}/v1/me`)).status).toBe(401)
      expect(await first.stop()).toBe(0)

      const second = await startServer(['up'], { RXT_DATA_DIR: dir })
      const after = await getJson<SystemInfo>(`${second.url}/v1/system`)
      expect(after.boots.count).toBe(2)
      expect(after.boots.first.instanceId).toBe(before.instance.id)
      expect(after.instance.id).not.toBe(before.instance.id)
      const login = await fetch(`${second.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com', password: 'a long passphrase' }),
      })
      const { accessToken } = (await login.json()) as { accessToken: string }
      const me = await fetch(`${second.url}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })
      expect(await me.json()).toMatchObject({
        email: 'ada@example.com',
        operator: true,
        orgs: [{ name: 'Acme', role: 'owner' }],
      })
      expect(await second.stop('SIGINT')).toBe(0)
    },
  )

  it(
    'starts from the template `prepare` makes for its build, and without one makes its database',
    starts(4),
    async () => {
      const cache = await mkdtemp(join(tmpdir(), 'rxt-cache-'))
      const prepared = await runToEnd(['prepare'], { RXT_CACHE_DIR: cache })
      expect(prepared.code).toBe(0)
      const template = /template is (\S+)/.exec(prepared.stdout)?.[1] ?? ''
      expect(template.startsWith(join(cache, 'pglite-templates'))).toBe(true)
      expect(existsSync(join(template, 'PG_VERSION'))).toBe(true)
      const pgdataOf = (server: Server) =>
        JSON.parse(
          server
            .output()
            .split('\n')
            .find((l) => l.includes('rxt-deploy is serving')) ?? '{}',
        ).pgdata
      for (const [env, made] of [
        [{ RXT_CACHE_DIR: cache }, 'copied from the template'],
        [
          { RXT_CACHE_DIR: await mkdtemp(join(tmpdir(), 'rxt-cache-')) },
          'made (no template: rxt-deploy prepare makes one)',
        ],
      ] as const) {
        const server = await startServer(['up'], { RXT_DATA_DIR: await dataDir(), ...env })
        expect(pgdataOf(server)).toBe(made)
        await expectServing(server)
        const signup = await fetch(`${server.url}/v1/auth/signup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: 'ada@example.com',
            password: 'a long passphrase',
            name: 'Ada',
            orgName: 'Acme',
          }),
        })
        expect(signup.status).toBe(201)
        expect(await server.stop()).toBe(0)
      }
    },
  )

  it('comes back after being killed outright: the data and the lock are recovered', starts(2), async () => {
    const dir = await dataDir()
    const first = await startServer(['up'], { RXT_DATA_DIR: dir })
    const before = await getJson<SystemInfo>(`${first.url}/v1/system`)
    expect(await first.stop('SIGKILL')).toBe(null)
    const second = await startServer(['up'], { RXT_DATA_DIR: dir })
    const after = await getJson<SystemInfo>(`${second.url}/v1/system`)
    expect(after.boots.count).toBe(2)
    expect(after.boots.first.instanceId).toBe(before.instance.id)
    expect(await second.stop()).toBe(0)
  })

  it('refuses a second process on the same data directory', starts(2), async () => {
    const dir = await dataDir()
    const first = await startServer(['up'], { RXT_DATA_DIR: dir })
    const second = await runToEnd(['up'], { RXT_DATA_DIR: dir })
    expect(second.code).toBe(2)
    expect(second.stderr).toContain(`is in use by process ${first.child.pid}`)
    expect(await first.stop()).toBe(0)
  })

  it('finishes a request in flight when told to stop, then exits 0', starts(1), async () => {
    const server = await startServer(['up'], { RXT_DATA_DIR: await dataDir(), SLOW_MS: '1500' }, slowScript)
    const inFlight = fetch(`${server.url}/v1/slow`)
    // Stopped once the request is in the handler, however long it took to get there.
    await server.waitForOutput('slow request started')
    const exit = server.stop('SIGTERM')
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ done: true })
    expect(await exit).toBe(0)
    expect(server.output()).toMatch(/"msg":"stopping: draining in-flight requests"[\s\S]*"msg":"stopped"/)
  })

  it(
    'stops on SIGTERM even when whoever read its log is gone (a broken stdout pipe)',
    starts(1),
    async () => {
      const server = await startServer(['up'], { RXT_DATA_DIR: await dataDir() })
      server.child.stdout?.destroy()
      server.child.stderr?.destroy()
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
      expect(await server.stop('SIGTERM')).toBe(0)
    },
  )

  it('gives up on a request that outlives SHUTDOWN_TIMEOUT_MS and exits 1', starts(1), async () => {
    const server = await startServer(
      ['up'],
      { RXT_DATA_DIR: await dataDir(), SLOW_MS: '20000', SHUTDOWN_TIMEOUT_MS: '300' },
      slowScript,
    )
    fetch(`${server.url}/v1/slow`).catch(() => undefined)
    await server.waitForOutput('slow request started')
    expect(await server.stop('SIGTERM')).toBe(1)
    expect(server.output()).toContain('"msg":"stop timed out; exiting"')
  })
})

describe('rxt-deploy configuration and usage errors', () => {
  it('exits non-zero with one line naming PORT when PORT is not a number', starts(1), async () => {
    const run = await runToEnd(['up'], { PORT: 'abc', RXT_DATA_DIR: await dataDir() })
    expect(run.code).toBe(2)
    const lines = run.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toBe(
      'rxt-deploy: invalid configuration: PORT expects an integer from 0 to 65535, got "abc"',
    )
  })

  it(
    'refuses serve without DATABASE_URL and unknown contexts, naming what would work',
    starts(3),
    async () => {
      const noDb = await runToEnd(['serve', 'system'])
      expect(noDb.code).toBe(2)
      expect(noDb.stderr).toContain('serve runs against PostgreSQL: set DATABASE_URL')
      const unknown = await runToEnd(['serve', 'nope'], { DATABASE_URL: 'postgres://127.0.0.1:1/none' })
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toContain(
        'unknown context nope; this build has identity, registry, vcs, sim, spot, sddc, router, placement, policy, secrets, orchestrator, vms, audit, system, console, gateway',
      )
      const bad = await runToEnd(['launch'])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain('unknown command "launch"')
    },
  )

  it('prints its contexts and version', starts(2), async () => {
    const contexts = await runToEnd(['contexts'])
    expect(contexts.code).toBe(0)
    expect(contexts.stdout).toMatch(
      /^identity\t.*\nregistry\t.*\nvcs\t.*\nsim\t.*\nspot\t.*\nsddc\t.*\nrouter\t.*\nplacement\t.*\npolicy\t.*\nsecrets\t.*\norchestrator\t.*\nvms\t.*\naudit\t.*\nsystem\t/,
    )
    const version = await runToEnd(['--version'])
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })
})

const postgresSkip = inject('postgresSkipReason')
describe.skipIf(postgresSkip !== '')('rxt-deploy serve (distributed, PostgreSQL)', () => {
  it('serves the system context against DATABASE_URL', starts(1), async () => {
    const fresh = await createFreshPostgres(inject('postgresUrl'))
    try {
      const server = await startServer(['serve', 'system'], { DATABASE_URL: fresh.url })
      await expectServing(server)
      const info = await getJson<SystemInfo>(`${server.url}/v1/system`)
      expect(info).toMatchObject({
        mode: 'distributed',
        database: 'postgres',
        contexts: ['system'],
        boots: { count: 1 },
      })
      expect(await server.stop()).toBe(0)
    } finally {
      await fresh.drop()
    }
  })

  it.skipIf(inject('natsSkipReason') !== '')(
    'serves the system context with the bus on NATS JetStream (NATS_URL)',
    starts(1),
    async () => {
      const fresh = await createFreshPostgres(inject('postgresUrl'))
      const namespace = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`
      try {
        const server = await startServer(['serve', 'system'], {
          DATABASE_URL: fresh.url,
          NATS_URL: inject('natsUrl'),
          BUS_NAMESPACE: namespace,
        })
        await expectServing(server)
        const info = await getJson<SystemInfo>(`${server.url}/v1/system`)
        expect(info).toMatchObject({ mode: 'distributed', database: 'postgres', bus: 'nats' })
        expect(await server.stop()).toBe(0)
      } finally {
        await fresh.drop()
      }
    },
  )

  it('refuses to start when NATS_URL names no server, with one line', starts(1), async () => {
    const fresh = await createFreshPostgres(inject('postgresUrl'))
    try {
      const run = await runToEnd(['serve', 'system'], {
        DATABASE_URL: fresh.url,
        NATS_URL: 'nats://127.0.0.1:1',
      })
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
    } finally {
      await fresh.drop()
    }
  })

  it('starts replicas of a context together: each migration is applied once', starts(3), async () => {
    const fresh = await createFreshPostgres(inject('postgresUrl'))
    try {
      const replicas = await Promise.all(
        [1, 2, 3].map(() => startServer(['serve', 'system'], { DATABASE_URL: fresh.url })),
      )
      const info = await getJson<SystemInfo>(`${replicas[0]?.url}/v1/system`)
      expect(info.boots.count).toBe(3)
      const client = new pg.Client({ connectionString: fresh.url })
      await client.connect()
      const applied = await client.query('SELECT version FROM system.rxt_migrations')
      await client.end()
      expect(applied.rows).toEqual([{ version: 1 }])
      const codes = await Promise.all(replicas.map((r) => r.stop()))
      expect(codes).toEqual([0, 0, 0])
    } finally {
      await fresh.drop()
    }
  })

  it('reports the database unreachable: startup fails with a clear line', starts(1), async () => {
    const run = await runToEnd(['serve', 'system'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' })
    expect(run.code).toBe(2)
    expect(run.stderr.trim()).toBe('rxt-deploy: the database cannot be reached')
  })
})
