// The log canary: a developer's journey through the whole build — sign-up, sign-in, refresh, an API key
// used and rotated, an invite accepted, a service credential, a secret stored, rotated, granted and
// delivered, a project with its webhook secret, signed and forged GitHub deliveries, failing database
// statements, sign-out and the token used after it — with
// every log line the build writes captured at its most verbose level (the runtime's logger and the
// database's), on PGlite and PostgreSQL. No secret the journey saw (passwords, keys, tokens, webhook
// secrets, the installation's webhook key) and no form the database keeps of one (the argon2id hash, a
// SHA-256 as bytes, hex or base64, a signing key's private part) may appear in any line.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { Envelope } from '@rxt/contracts'
import {
  type ContextDeps,
  createLogger,
  defineContext,
  migration,
  openDatabase,
  type Runtime,
} from '@rxt/kit'
import { createFreshPostgres, dbTargets } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { catalog } from '../../apps/server/src/catalog.ts'
import { databaseReader } from '../setup/database-rows.ts'

/**
 * A context of the suite's own whose routes fail a statement with a secret as its parameter, the ways a
 * statement fails (a data error that quotes its input, a unique violation, a NUL): the kit must log
 * which statement failed, never with what.
 */
const failingStatements = defineContext({
  name: 'canary',
  migrations: [migration('0001_init.sql', 'CREATE TABLE kept (secret text PRIMARY KEY);')],
  routes: (app, deps) => {
    app.post<{ Body: { secret: string; how: string } }>(
      '/canary/fail',
      { config: { auth: { public: 'a test route' } } },
      async (request) => {
        const { secret, how } = request.body
        if (how === 'uuid') await deps.db.query('SELECT $1::uuid', [secret])
        if (how === 'unique') {
          await deps.db.query('INSERT INTO kept (secret) VALUES ($1) ON CONFLICT DO NOTHING', [secret])
          await deps.db.query('INSERT INTO kept (secret) VALUES ($1)', [secret])
        }
        if (how === 'nul') await deps.db.query('SELECT $1::text', [`${secret}\u0000`])
        if (how === 'integer') await deps.db.query('SELECT $1::integer', [secret])
        return { failed: false }
      },
    )
  },
})

/** The forms a secret could be written in: as it is, JSON-escaped, and its SHA-256 in hex and base64. */
function formsOf(secret: string): string[] {
  const digest = createHash('sha256').update(secret).digest()
  return [
    secret,
    JSON.stringify(secret).slice(1, -1),
    digest.toString('hex'),
    digest.toString('base64'),
    digest.toString('base64url'),
  ]
}

/** The forms a stored value could be written in: bytea as hex is also base64; an argon2id hash and its parts. */
function storedForms(value: string): string[] {
  const forms = [value]
  if (/^[0-9a-f]+$/.test(value) && value.length % 2 === 0 && value.length >= 32) {
    const bytes = Buffer.from(value, 'hex')
    forms.push(bytes.toString('base64'), bytes.toString('base64url'), `\\x${value}`)
  }
  if (value.startsWith('$argon2')) forms.push(...value.split('$').filter((part) => part.length >= 16))
  return forms
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`log canary (${target.name})`, () => {
    const lines: string[] = []
    const log = createLogger({
      level: 'trace',
      destination: { write: (line: string) => void lines.push(line) },
    })
    let runtime: Runtime
    let dispose: () => Promise<void> = async () => undefined
    const reader = databaseReader()
    /** Every secret the journey was given or chose, by what it is. */
    const secrets = new Map<string, string>()
    /** Every problem document the journey was answered with. */
    const problems: string[] = []
    const webhookKey = randomBytes(32).toString('base64url')
    const secretsKey = randomBytes(32).toString('base64url')
    /** Sends cmd.secret.issue as the orchestrator would, and sees the grant that answers it. */
    let issuer: ContextDeps<unknown>
    const grants: Envelope[] = []
    const orchestratorOfSecrets = defineContext({
      name: 'issuer',
      start: (deps) => {
        issuer = deps as ContextDeps<unknown>
      },
      handlers: () => [
        { id: 'grants', types: ['evt.secret.granted'], handle: async (m) => void grants.push(m) },
      ],
    })

    const call = async (
      method: string,
      url: string,
      options: { body?: unknown; headers?: Record<string, string> } = {},
    ) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: options.headers ?? {},
        ...(options.body === undefined ? {} : { payload: options.body as object }),
      })
      if (res.headers['content-type']?.includes('application/problem+json')) problems.push(res.body)
      // A failure of the server's says why in the run's output (a problem document carries no secret:
      // the suite checks that too).
      if (res.statusCode >= 500) console.error(`${method} ${url} answered ${res.statusCode}: ${res.body}`)
      return {
        status: res.statusCode,
        body: res.body.length > 0 && res.headers['content-type']?.includes('json') ? res.json() : res.body,
      }
    }
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

    beforeAll(async () => {
      const database =
        target.name === 'pglite'
          ? await openDatabase({ kind: 'pglite' }, log)
          : await (async () => {
              const fresh = await createFreshPostgres(inject('postgresUrl'))
              // A pool per context: the whole catalog (17 contexts) at 3 each stays well inside the
              // server's max_connections (100) beside the suite's other worker; at 10 each it does not.
              const opened = await openDatabase({ kind: 'postgres', url: fresh.url, poolMax: 3 }, log)
              dispose = fresh.drop
              return opened
            })()
      runtime = await startTestRuntime({
        contexts: [...catalog, failingStatements, orchestratorOfSecrets, reader.context],
        database,
        env: {
          WEBHOOK_KEY: webhookKey,
          SECRETS_KEY: secretsKey,
          LOG_LEVEL: 'trace',
        },
        log,
      })
      const previous = dispose
      dispose = async () => {
        await database.close()
        await previous()
      }
      secrets.set('the webhook key', webhookKey)
      secrets.set('the secrets key', secretsKey)

      // Sign-up, sign-in, refresh.
      const password = `canary ${randomBytes(12).toString('hex')} passphrase`
      secrets.set('a password', password)
      const signup = await call('POST', '/v1/auth/signup', {
        body: { email: 'ada@canary.example', password, name: 'Ada', orgName: 'Canary' },
      })
      expect(signup.status).toBe(201)
      const { orgId } = signup.body
      secrets.set('an access token from sign-up', signup.body.accessToken)
      secrets.set('a refresh token from sign-up', signup.body.refreshToken)
      const wrong = await call('POST', '/v1/auth/login', {
        body: { email: 'ada@canary.example', password: `${password} but wrong` },
      })
      expect(wrong.status).toBe(401)
      secrets.set('a wrong password', `${password} but wrong`)
      const login = await call('POST', '/v1/auth/login', { body: { email: 'ada@canary.example', password } })
      expect(login.status).toBe(200)
      secrets.set('an access token from sign-in', login.body.accessToken)
      secrets.set('a refresh token from sign-in', login.body.refreshToken)
      const refreshed = await call('POST', '/v1/auth/refresh', {
        body: { refreshToken: login.body.refreshToken },
      })
      expect(refreshed.status).toBe(200)
      secrets.set('an access token from refresh', refreshed.body.accessToken)
      secrets.set('a refresh token from refresh', refreshed.body.refreshToken)
      // A used refresh token again: reuse, which revokes the sign-in.
      const reused = await call('POST', '/v1/auth/refresh', {
        body: { refreshToken: login.body.refreshToken },
      })
      expect(reused.status).toBe(401)
      const token = signup.body.accessToken as string

      // An API key, used, rotated; a service credential; an invite accepted by a second user.
      const key = await call('POST', `/v1/orgs/${orgId}/api-keys`, {
        body: { name: 'ci', role: 'developer' },
        headers: bearer(token),
      })
      expect(key.status).toBe(201)
      secrets.set('an API key', key.body.key)
      expect(
        (await call('GET', `/v1/orgs/${orgId}`, { headers: { authorization: `ApiKey ${key.body.key}` } }))
          .status,
      ).toBe(200)
      expect(
        (await call('GET', `/v1/orgs/${orgId}`, { headers: { authorization: `ApiKey ${key.body.key}x` } }))
          .status,
      ).toBe(401)
      const rotated = await call('POST', `/v1/orgs/${orgId}/api-keys/${key.body.id}/rotate`, {
        body: {},
        headers: bearer(token),
      })
      expect(rotated.status).toBeLessThan(300)
      secrets.set('a rotated API key', rotated.body.key)
      const credential = await call('POST', '/v1/admin/service-credentials', {
        body: { service: 'canary', permissions: ['projects:read'] },
        headers: bearer(token),
      })
      expect(credential.status).toBe(201)
      secrets.set('a service credential', credential.body.credential)
      expect(
        (
          await call('GET', '/v1/projects', {
            headers: { authorization: `Service ${credential.body.credential}`, 'x-rxt-org': orgId },
          })
        ).status,
      ).toBeLessThan(500)

      // A secret stored, refused again, rotated, granted to a deployment and read by a delivering service.
      const secretValue = (what: string) => {
        const value = `canary-secret-${what}-${randomBytes(12).toString('hex')}`
        secrets.set(`a secret value (${what})`, value)
        return value
      }
      const stored = await call('POST', '/v1/secrets', {
        body: { name: 'db/url', projectId: 'prj-canary', value: secretValue('first') },
        headers: bearer(token),
      })
      expect(stored.status).toBe(201)
      const twice = await call('POST', '/v1/secrets', {
        body: { name: 'db/url', projectId: 'prj-canary', value: secretValue('refused') },
        headers: bearer(token),
      })
      expect(twice.status).toBe(409)
      const current = secretValue('rotated')
      expect(
        (
          await call('POST', `/v1/secrets/${stored.body.id}/rotate`, {
            body: { value: current },
            headers: bearer(token),
          })
        ).status,
      ).toBe(200)
      const issued = await issuer.db.transaction((tx) =>
        issuer.bus.publish(tx, {
          type: 'cmd.secret.issue',
          tenantId: orgId,
          key: 'env-canary',
          data: {
            deploymentId: 'dep-canary',
            projectId: 'prj-canary',
            envId: 'env-canary',
            refs: ['secret://db/url'],
          },
        }),
      )
      await until(() => grants.some((g) => g.causationId === issued.id), 30_000, 'the grant')
      const grantId = (grants.find((g) => g.causationId === issued.id)?.data as { grantId: string }).grantId
      const courier = await call('POST', '/v1/admin/service-credentials', {
        body: { service: 'adapter-canary', permissions: ['secrets:deliver'] },
        headers: bearer(token),
      })
      expect(courier.status).toBe(201)
      secrets.set('a delivering service credential', courier.body.credential)
      const delivered = await call('GET', `/v1/secrets/grants/${grantId}/values`, {
        headers: { authorization: `Service ${courier.body.credential}`, 'x-rxt-org': orgId },
      })
      expect(delivered.status, JSON.stringify(delivered.body)).toBe(200)
      expect(delivered.body.values[0].value).toBe(current)

      const invite = await call('POST', `/v1/orgs/${orgId}/invites`, {
        body: { email: 'bo@canary.example', role: 'viewer' },
        headers: bearer(token),
      })
      expect(invite.status).toBe(201)
      secrets.set('an invite token', invite.body.token)
      const secondPassword = `second ${randomBytes(12).toString('hex')} passphrase`
      secrets.set('a second password', secondPassword)
      const bo = await call('POST', '/v1/auth/signup', {
        body: { email: 'bo@canary.example', password: secondPassword, name: 'Bo', orgName: 'Bo' },
      })
      expect(bo.status).toBe(201)
      expect(
        (
          await call('POST', `/v1/invites/${invite.body.token}/accept`, {
            headers: bearer(bo.body.accessToken),
          })
        ).status,
      ).toBeLessThan(300)

      // A project with its webhook secret; signed deliveries (a ping that verifies the repository, a
      // push) and a forged one.
      const project = await call('POST', '/v1/projects', {
        body: { slug: 'shop', name: 'Shop', repository: 'canary-owner/shop' },
        headers: bearer(token),
      })
      expect(project.status).toBe(201)
      const secret = project.body.webhook.secret as string
      secrets.set('a webhook secret', secret)
      const hookPath = new URL(project.body.webhook.url as string).pathname
      const deliver = (event: string, payload: unknown, key = secret) => {
        const body = JSON.stringify(payload)
        const signature = `sha256=${createHmac('sha256', key).update(body).digest('hex')}`
        return runtime.app.inject({
          method: 'POST',
          url: hookPath,
          headers: {
            'content-type': 'application/json',
            'x-github-event': event,
            'x-github-delivery': randomUUID(),
            'x-hub-signature-256': signature,
          },
          payload: body,
        })
      }
      // vcs learns of the project through the bus before it takes the project's deliveries.
      await until(
        async () =>
          (
            await call('GET', `/v1/projects/${project.body.id}/webhook/deliveries`, {
              headers: bearer(token),
            })
          ).status === 200,
        30_000,
        'vcs to know the project',
      )
      const repository = { full_name: 'canary-owner/shop', default_branch: 'main' }
      expect(
        (await deliver('ping', { zen: 'Keep it logically awesome.', hook_id: 1, repository })).statusCode,
      ).toBeLessThan(300)
      const push = await deliver('push', {
        ref: 'refs/heads/main',
        after: 'a'.repeat(40),
        before: '0'.repeat(40),
        deleted: false,
        repository,
        head_commit: { id: 'a'.repeat(40), message: 'canary' },
      })
      expect(push.statusCode).toBeLessThan(500)
      const forged = await deliver('push', { ref: 'refs/heads/main', repository }, 'not the secret')
      expect(forged.statusCode).toBe(401)

      // A sign-up whose name the database refuses (a NUL): had it reached the INSERT, the statement would
      // have failed with the new password's argon2id hash as a parameter.
      const refusedPassword = `refused ${randomBytes(12).toString('hex')} passphrase`
      secrets.set('the password of a refused sign-up', refusedPassword)
      const refused = await call('POST', '/v1/auth/signup', {
        body: { email: 'nul@canary.example', password: refusedPassword, name: 'N\u0000L', orgName: 'Nul' },
      })
      expect(refused.status).toBeGreaterThanOrEqual(400)

      // Statements that fail with a secret as their parameter.
      for (const how of ['uuid', 'unique', 'nul', 'integer']) {
        const planted = `canary-statement-${how}-${randomBytes(12).toString('hex')}`
        secrets.set(`a failed statement's parameter (${how})`, planted)
        const failed = await call('POST', '/v1/canary/fail', { body: { secret: planted, how } })
        expect(failed.status, `the ${how} statement fails`).toBeGreaterThanOrEqual(400)
      }

      // Sign-out, then the sign-in's tokens after it.
      const logout = await call('POST', '/v1/auth/logout', {
        body: { refreshToken: refreshed.body.refreshToken },
      })
      expect(logout.status).toBeLessThan(300)
      await call('GET', '/v1/me', { headers: bearer(refreshed.body.accessToken) })
      await call('POST', '/v1/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } })
    }, 180_000)

    afterAll(async () => {
      await runtime?.stop()
      await dispose()
    })

    it('captured the journey (the canary can see what the build logs)', () => {
      const text = lines.join('')
      expect(text).toContain('"msg":"request completed"')
      expect(text).toContain('/v1/auth/signup')
      // The failing statements were logged as failures: the lines the secrets would be in exist.
      expect(lines.filter((line) => line.includes('/v1/canary/fail')).length).toBeGreaterThanOrEqual(4)
    })

    it('finds no secret the journey saw, nor a hash of one, in any log line', () => {
      const found: string[] = []
      for (const [what, secret] of secrets) {
        for (const form of formsOf(secret)) {
          const line = lines.find((l) => l.includes(form))
          if (line !== undefined)
            found.push(
              `${what} (as ${form === secret ? 'itself' : 'a form of it'}): ${line.replace(form, '<HERE>').slice(0, 400)}`,
            )
        }
      }
      expect(found).toEqual([])
    })

    it('finds no secret the journey saw in any problem it was answered with', () => {
      // The journey was refused on purpose (a wrong password, a forged key, failing statements).
      expect(problems.length).toBeGreaterThanOrEqual(5)
      const found: string[] = []
      for (const [what, secret] of secrets)
        for (const form of formsOf(secret))
          for (const problem of problems)
            if (problem.includes(form))
              found.push(`${what}: ${problem.replace(form, '<HERE>').slice(0, 400)}`)
      expect(found).toEqual([])
    })

    it('finds no secret the journey saw in any message the bus carried', async () => {
      // Every message published is kept in the bus's tables (the outbox, the Postgres log, the inboxes).
      const carried = (await reader.values()).filter(({ table }) =>
        /^bus\.|\.rxt_(outbox|inbox|dead_letters)$/.test(table),
      )
      expect(carried.some(({ value }) => value.includes('evt.secret.accessed'))).toBe(true)
      expect(
        carried.some(
          ({ value }) => value.includes('evt.request.audited') || value.includes('evt.secret.rotated'),
        ),
      ).toBe(true)
      const found: string[] = []
      for (const [what, secret] of secrets)
        for (const form of formsOf(secret))
          for (const { table, column, value } of carried)
            if (value.includes(form)) found.push(`${what} in ${table}.${column}`)
      expect(found).toEqual([])
    })

    it('finds no password hash nor private key of any kind in any log line', () => {
      // Whatever the hash was of (one the database never kept: a statement that failed).
      const shapes = [/\$argon2(id|i|d)\$/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /"d":"[A-Za-z0-9_-]{40,}"/]
      const found = lines.filter((line) => shapes.some((shape) => shape.test(line)))
      expect(found.map((line) => line.slice(0, 400))).toEqual([])
    })

    it('finds nothing the database keeps of a secret (hashes, private keys) in any log line', async () => {
      const stored = (await reader.values()).filter(
        ({ column, value }) =>
          /hash|secret|private|password|credential|sealed|wrapped/i.test(column) && value.length >= 16,
      )
      // The database keeps a hash of each: the suite must have found them, or it proves nothing.
      expect(stored.some((s) => s.column === 'password_hash')).toBe(true)
      expect(stored.filter((s) => s.column === 'secret_hash').length).toBeGreaterThanOrEqual(3)
      // And each sealed secret value and wrapped data key (the secrets context's ciphertext).
      expect(stored.filter((s) => s.column === 'sealed').length).toBeGreaterThanOrEqual(2)
      expect(stored.some((s) => s.column === 'wrapped')).toBe(true)
      const found: string[] = []
      for (const { table, column, value } of stored) {
        const forms = column.endsWith('_jwk') ? jwkSecrets(value) : storedForms(value)
        for (const form of forms) {
          const line = lines.find((l) => l.includes(form))
          if (line !== undefined)
            found.push(`${table}.${column}: ${line.replace(form, '<HERE>').slice(0, 400)}`)
        }
      }
      expect(found).toEqual([])
    })
  })
}

/** The private parts of a JWK (as JSON text): `d`, and for RSA the primes. */
function jwkSecrets(text: string): string[] {
  try {
    const jwk = JSON.parse(text) as Record<string, unknown>
    return ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].flatMap((name) =>
      typeof jwk[name] === 'string' ? [jwk[name] as string] : [],
    )
  } catch {
    return [text]
  }
}
