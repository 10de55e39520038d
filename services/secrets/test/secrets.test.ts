import { randomBytes, randomUUID } from 'node:crypto'
import type {
  Envelope,
  SecretAccessed,
  SecretGranted,
  SecretGrantRefused,
  SecretIssue,
  SecretRotated,
} from '@rxt/contracts'
import { identity } from '@rxt/identity'
import {
  type ContextDb,
  type ContextDeps,
  defineContext,
  loadMigrations,
  NotFoundError,
  type Runtime,
  remotePeer,
  UnavailableError,
} from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSecretsClient } from '../src/client.ts'
import { secrets } from '../src/index.ts'
import { createSecretRows } from '../src/store.ts'

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`secrets on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let driver: ContextDeps<unknown>
    let db: ContextDb
    let baseUrl = ''
    let alice: { authorization: string; orgId: string }
    let bob: { authorization: string; orgId: string }
    let service = ''
    let credential = ''
    const events: Envelope[] = []

    const call = async (
      method: string,
      url: string,
      authorization: string,
      payload?: object,
      headers: Record<string, string> = {},
    ) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization, ...headers },
        ...(payload === undefined ? {} : { payload }),
      })
      return {
        status: res.statusCode,
        headers: res.headers,
        text: res.body,
        body: res.body === '' ? undefined : res.json(),
      }
    }
    const create = async (who: { authorization: string }, body: object) => {
      const res = await call('POST', '/v1/secrets', who.authorization, body)
      expect(res.status, res.text).toBe(201)
      return res.body
    }
    /** Sends cmd.secret.issue as the orchestrator would, and waits for its answer. */
    const issue = async (tenantId: string, data: SecretIssue) => {
      const sent = await driver.db.transaction((tx) =>
        driver.bus.publish(tx, { type: 'cmd.secret.issue', tenantId, key: data.envId, data }),
      )
      await until(() => events.some((e) => e.causationId === sent.id), 15_000, `an answer to ${sent.id}`)
      const answer = events.find((e) => e.causationId === sent.id) as Envelope
      expect(answer.correlationId).toBe(sent.correlationId)
      expect(answer.tenantId).toBe(tenantId)
      return answer.type === 'evt.secret.granted'
        ? { granted: answer.data as SecretGranted, refused: undefined }
        : { granted: undefined, refused: answer.data as SecretGrantRefused }
    }
    const values = (orgId: string, grantId: string, authorization = service) =>
      call('GET', `/v1/secrets/grants/${grantId}/values`, authorization, undefined, { 'x-rxt-org': orgId })
    /** SQL as the context's own role, in one tenant (row-level security applies). */
    const inTenant = <T>(tenantId: string, sql: string, params: unknown[] = []) =>
      db.withTenant(tenantId, async (tx) => (await tx.query(sql, params)).rows as T[])
    const deployment = () => `dep-${randomUUID()}`

    beforeAll(async () => {
      handle = await target.create()
      const harness = defineContext({
        name: 'harness',
        start: (deps) => {
          driver = deps as ContextDeps<unknown>
        },
        handlers: () => [
          {
            id: 'watch',
            types: ['evt.secret.granted', 'evt.secret.refused', 'evt.secret.accessed', 'evt.secret.rotated'],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, secrets, harness],
        database: handle.database,
        env: { SECRETS_KEY: randomBytes(32).toString('base64url'), HOST: '127.0.0.1' },
      })
      baseUrl = await runtime.listen()
      // The first account of an installation is its operator: it issues the adapter's credential.
      alice = await signUp(runtime, 'alice@a.example')
      bob = await signUp(runtime, 'bob@b.example')
      const issued = await call('POST', '/v1/admin/service-credentials', alice.authorization, {
        service: 'adapter-spot',
        permissions: ['secrets:deliver'],
      })
      expect(issued.status, issued.text).toBe(201)
      credential = issued.body.credential
      service = `Service ${credential}`
      db = await handle.database.openContext(
        'secrets',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
        {
          kitMigrations: await loadMigrations(
            new URL('../../../packages/kit/src/migrations/context/', import.meta.url),
          ),
        },
      )
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it('stores a secret and answers its metadata, never its value', async () => {
      const value = `postgres://shop:${randomUUID()}@db/shop`
      const made = await create(alice, { name: 'db/url', projectId: 'prj-create', value })
      expect(made).toMatchObject({
        name: 'db/url',
        ref: 'secret://db/url',
        projectId: 'prj-create',
        envId: null,
        scope: 'project',
        currentVersion: 1,
        redeployOnRotation: false,
        createdBy: expect.stringMatching(/^user:/),
      })
      expect(made.versions).toHaveLength(1)
      const got = await call('GET', `/v1/secrets/${made.id}`, alice.authorization)
      expect(got.status).toBe(200)
      expect(got.body).toMatchObject({ id: made.id, currentVersion: 1, versions: [{ version: 1 }] })
      const listed = await call('GET', '/v1/secrets?projectId=prj-create', alice.authorization)
      expect(listed.body.items.map((s: { id: string }) => s.id)).toEqual([made.id])
      for (const text of [JSON.stringify(made), got.text, listed.text]) expect(text).not.toContain(value)
    })

    it('keeps only ciphertext in the database: no row holds the value', async () => {
      const value = `tok-${randomUUID()}`
      const made = await create(alice, { name: 'api/token', projectId: 'prj-cipher', value })
      const rows = await inTenant<{ sealed: Uint8Array }>(
        alice.orgId,
        'SELECT sealed FROM secret_versions WHERE secret_id = $1',
        [made.id],
      )
      expect(rows).toHaveLength(1)
      const sealed = Buffer.from(rows[0]?.sealed as Uint8Array)
      // A 12-byte nonce, the ciphertext (as long as the value), a 16-byte tag.
      expect(sealed.length).toBe(12 + Buffer.byteLength(value) + 16)
      expect(sealed.includes(Buffer.from(value))).toBe(false)
      expect(sealed.includes(Buffer.from(value.slice(4)))).toBe(false)
      // Nor does any column of any table of the schema, as text.
      for (const table of ['secrets', 'secret_versions', 'data_keys', 'grants', 'grant_secrets']) {
        const dump = await inTenant<{ row: string }>(alice.orgId, `SELECT t::text AS row FROM ${table} t`)
        for (const { row } of dump) expect(row).not.toContain(value.slice(4))
      }
    })

    it('refuses the same name in the same scope, and allows it in another scope', async () => {
      const body = { name: 'smtp/password', projectId: 'prj-conflict', value: 'one' }
      await create(alice, body)
      const again = await call('POST', '/v1/secrets', alice.authorization, { ...body, value: 'two' })
      expect(again.status).toBe(409)
      expect(again.body.detail).toContain('smtp/password')
      expect(again.text).not.toContain('two"')
      // The environment's secret of the same name is another secret, and so is another tenant's.
      await create(alice, { ...body, envId: 'env-conflict' })
      await create(bob, body)
      const envAgain = await call('POST', '/v1/secrets', alice.authorization, {
        ...body,
        envId: 'env-conflict',
      })
      expect(envAgain.status).toBe(409)
    })

    it('refuses values over 64 KiB and names outside the pattern', async () => {
      const big = await call('POST', '/v1/secrets', alice.authorization, {
        name: 'big',
        projectId: 'prj-limits',
        value: 'é'.repeat(40_000),
      })
      expect(big.status).toBe(400)
      expect(big.body.errors).toEqual([{ path: '/body/value', message: 'at most 65536 bytes of UTF-8' }])
      const name = await call('POST', '/v1/secrets', alice.authorization, {
        name: 'Db URL',
        projectId: 'prj-limits',
        value: 'x',
      })
      expect(name.status).toBe(400)
      expect(name.text).not.toContain('"x"')
    })

    it('lists by project and environment', async () => {
      const p = await create(alice, { name: 'a', projectId: 'prj-list', value: 'v' })
      const e = await create(alice, { name: 'b', projectId: 'prj-list', envId: 'env-list', value: 'v' })
      await create(alice, { name: 'c', projectId: 'prj-list-other', value: 'v' })
      const all = await call('GET', '/v1/secrets?projectId=prj-list', alice.authorization)
      expect(all.body.items.map((s: { id: string }) => s.id)).toEqual([p.id, e.id])
      const env = await call('GET', '/v1/secrets?envId=env-list', alice.authorization)
      expect(env.body.items.map((s: { id: string }) => s.id)).toEqual([e.id])
      const ofB = await call('GET', '/v1/secrets?projectId=prj-list', bob.authorization)
      expect(ofB.body.items).toEqual([])
    })

    it('rotates: a new current version, the last 5 kept, published without the value', async () => {
      const made = await create(alice, { name: 'rotating', projectId: 'prj-rotate', value: 'v1-secret' })
      let last = made
      for (let i = 2; i <= 7; i++) {
        const res = await call('POST', `/v1/secrets/${made.id}/rotate`, alice.authorization, {
          value: `v${i}-secret`,
        })
        expect(res.status, res.text).toBe(200)
        last = res.body
      }
      expect(last.currentVersion).toBe(7)
      expect(last.versions.map((v: { version: number }) => v.version)).toEqual([7, 6, 5, 4, 3])
      const kept = await inTenant<{ version: number }>(
        alice.orgId,
        'SELECT version FROM secret_versions WHERE secret_id = $1 ORDER BY version',
        [made.id],
      )
      expect(kept.map((r) => r.version)).toEqual([3, 4, 5, 6, 7])
      await until(
        () => events.some((e) => e.type === 'evt.secret.rotated' && (e.data as SecretRotated).version === 7),
        10_000,
        'evt.secret.rotated of version 7',
      )
      const rotated = events.filter(
        (e) => e.type === 'evt.secret.rotated' && (e.data as SecretRotated).secretRef === 'secret://rotating',
      )
      expect(rotated.map((e) => (e.data as SecretRotated).version).sort()).toEqual([2, 3, 4, 5, 6, 7])
      const seventh = rotated.find((e) => (e.data as SecretRotated).version === 7) as Envelope
      expect(seventh.data).toMatchObject({ envId: null, previousVersion: 6, previousExpiresAt: null })
      // Not asked to redeploy on rotation: no environments named.
      expect(seventh.data).not.toHaveProperty('redeployEnvIds')
      expect(JSON.stringify(rotated)).not.toContain('-secret')
    })

    it('names the environments running an earlier version when the secret asks to redeploy on rotation', async () => {
      const made = await create(alice, {
        name: 'redeploy/me',
        projectId: 'prj-redeploy',
        value: 'first',
        redeployOnRotation: true,
      })
      const refs = ['secret://redeploy/me']
      const staging = await issue(alice.orgId, {
        deploymentId: deployment(),
        projectId: 'prj-redeploy',
        envId: 'env-staging',
        refs,
      })
      expect(staging.granted?.secrets[0]?.version).toBe(1)
      const res = await call('POST', `/v1/secrets/${made.id}/rotate`, alice.authorization, {
        value: 'second',
      })
      expect(res.status).toBe(200)
      // Production deploys version 2; staging still runs version 1.
      await issue(alice.orgId, {
        deploymentId: deployment(),
        projectId: 'prj-redeploy',
        envId: 'env-prod',
        refs,
      })
      await call('POST', `/v1/secrets/${made.id}/rotate`, alice.authorization, { value: 'third' })
      await until(
        () =>
          events.some(
            (e) =>
              e.type === 'evt.secret.rotated' &&
              (e.data as SecretRotated).secretRef === 'secret://redeploy/me' &&
              (e.data as SecretRotated).version === 3,
          ),
        10_000,
      )
      const of = (version: number) =>
        events.find(
          (e) =>
            e.type === 'evt.secret.rotated' &&
            (e.data as SecretRotated).secretRef === 'secret://redeploy/me' &&
            (e.data as SecretRotated).version === version,
        )?.data as SecretRotated
      expect(of(2).redeployEnvIds).toEqual(['env-staging'])
      expect(of(3).redeployEnvIds).toEqual(['env-prod', 'env-staging'])
    })

    it('deletes: gone from reads and lists, its values dropped; another tenant or an unknown id is 404', async () => {
      const made = await create(alice, { name: 'doomed', projectId: 'prj-delete', value: 'bye' })
      for (const [method, payload] of [
        ['GET', undefined],
        ['DELETE', undefined],
        ['POST', { value: 'planted' }],
      ] as const) {
        const url = method === 'POST' ? `/v1/secrets/${made.id}/rotate` : `/v1/secrets/${made.id}`
        expect((await call(method, url, bob.authorization, payload)).status, `${method} as org B`).toBe(404)
      }
      expect((await call('GET', `/v1/secrets/${randomUUID()}`, alice.authorization)).status).toBe(404)
      expect((await call('GET', '/v1/secrets/not-a-uuid', alice.authorization)).status).toBe(404)
      expect((await call('DELETE', `/v1/secrets/${made.id}`, alice.authorization)).status).toBe(204)
      expect((await call('GET', `/v1/secrets/${made.id}`, alice.authorization)).status).toBe(404)
      expect((await call('DELETE', `/v1/secrets/${made.id}`, alice.authorization)).status).toBe(404)
      const listed = await call('GET', '/v1/secrets?projectId=prj-delete', alice.authorization)
      expect(listed.body.items).toEqual([])
      expect(
        await inTenant(alice.orgId, 'SELECT 1 FROM secret_versions WHERE secret_id = $1', [made.id]),
      ).toEqual([])
      // The name is free again in its scope.
      await create(alice, { name: 'doomed', projectId: 'prj-delete', value: 'again' })
    })

    it('asks for secrets:read and secrets:write', async () => {
      const key = await call('POST', `/v1/orgs/${alice.orgId}/api-keys`, alice.authorization, {
        name: 'viewer',
        role: 'viewer',
      })
      const viewer = `ApiKey ${key.body.key}`
      expect((await call('GET', '/v1/secrets', viewer)).status).toBe(403)
      expect(
        (await call('POST', '/v1/secrets', viewer, { name: 'x', projectId: 'prj-perm', value: 'v' })).status,
      ).toBe(403)
      expect((await call('GET', '/v1/secrets', '')).status).toBe(401)
    })

    it("grants the environment's secret before the project's, pinning the current versions", async () => {
      const projectId = 'prj-grant'
      const projectDb = await create(alice, { name: 'db/url', projectId, value: 'project-db' })
      const envDb = await create(alice, { name: 'db/url', projectId, envId: 'env-a', value: 'env-db' })
      const token = await create(alice, { name: 'token', projectId, value: 'project-token' })
      await call('POST', `/v1/secrets/${token.id}/rotate`, alice.authorization, { value: 'project-token-2' })
      const deploymentId = deployment()
      const answer = await issue(alice.orgId, {
        deploymentId,
        projectId,
        envId: 'env-a',
        refs: ['secret://db/url', 'secret://token'],
      })
      const granted = answer.granted as SecretGranted
      expect(granted).toMatchObject({ deploymentId, envId: 'env-a' })
      expect(granted.secrets).toEqual([
        { ref: 'secret://db/url', secretId: envDb.id, scope: 'environment', version: 1 },
        { ref: 'secret://token', secretId: token.id, scope: 'project', version: 2 },
      ])
      const ttl = Date.parse(granted.expiresAt) - Date.now()
      expect(ttl).toBeGreaterThan(14 * 60_000)
      expect(ttl).toBeLessThanOrEqual(15 * 60_000)
      // Another environment of the project gets the project's secret.
      const other = await issue(alice.orgId, {
        deploymentId: deployment(),
        projectId,
        envId: 'env-b',
        refs: ['secret://db/url'],
      })
      expect(other.granted?.secrets).toEqual([
        { ref: 'secret://db/url', secretId: projectDb.id, scope: 'project', version: 1 },
      ])
      // The same command again answers the same live grant.
      const again = await issue(alice.orgId, {
        deploymentId,
        projectId,
        envId: 'env-a',
        refs: ['secret://db/url', 'secret://token'],
      })
      expect(again.granted).toEqual(granted)
      // Org B has no such secrets: the same references are refused for it.
      const ofB = await issue(bob.orgId, {
        deploymentId,
        projectId,
        envId: 'env-a',
        refs: ['secret://token'],
      })
      expect(ofB.refused?.missing).toEqual(['secret://token'])
      expect(JSON.stringify([answer, other, again])).not.toMatch(/project-db|env-db|project-token/)
    })

    it('refuses a deployment naming secrets that do not exist, each named with where to create it', async () => {
      await create(alice, { name: 'present', projectId: 'prj-refused', value: 'here' })
      const answer = await issue(alice.orgId, {
        deploymentId: deployment(),
        projectId: 'prj-refused',
        envId: 'env-r',
        refs: ['secret://present', 'secret://absent/one', 'secret://absent-two'],
      })
      expect(answer.granted).toBeUndefined()
      expect(answer.refused).toMatchObject({
        envId: 'env-r',
        missing: ['secret://absent/one', 'secret://absent-two'],
        retryable: false,
      })
      expect(answer.refused?.reason).toContain('absent/one, absent-two')
      expect(answer.refused?.reason).toContain('POST /v1/secrets')
      expect(answer.refused?.reason).toContain('env-r')
      expect(await inTenant(alice.orgId, "SELECT 1 FROM grants WHERE env_id = 'env-r'")).toEqual([])
    })

    it("delivers a grant's values to a service credential only, each read an evt.secret.accessed, not cached", async () => {
      const projectId = 'prj-values'
      const made = await create(alice, { name: 'db/url', projectId, value: 'postgres://values-v1' })
      await call('POST', `/v1/secrets/${made.id}/rotate`, alice.authorization, {
        value: 'postgres://values-v2',
      })
      const deploymentId = deployment()
      const { granted } = await issue(alice.orgId, {
        deploymentId,
        projectId,
        envId: 'env-v',
        refs: ['secret://db/url'],
      })
      const grantId = (granted as SecretGranted).grantId
      // Rotated after the grant: the grant still reads the version it pinned.
      await call('POST', `/v1/secrets/${made.id}/rotate`, alice.authorization, {
        value: 'postgres://values-v3',
      })
      const read = await values(alice.orgId, grantId)
      expect(read.status, read.text).toBe(200)
      expect(read.headers['cache-control']).toBe('no-store')
      expect(read.body).toEqual({
        deploymentId,
        envId: 'env-v',
        expiresAt: (granted as SecretGranted).expiresAt,
        values: [{ ref: 'secret://db/url', version: 2, value: 'postgres://values-v2' }],
      })
      await until(
        () =>
          events.some(
            (e) => e.type === 'evt.secret.accessed' && (e.data as SecretAccessed).grantId === grantId,
          ),
        10_000,
        'evt.secret.accessed',
      )
      const accessed = events.filter(
        (e) => e.type === 'evt.secret.accessed' && (e.data as SecretAccessed).grantId === grantId,
      )
      expect(accessed).toHaveLength(1)
      expect(accessed[0]?.data).toMatchObject({
        secretId: made.id,
        ref: 'secret://db/url',
        version: 2,
        actor: 'service:adapter-spot',
        deploymentId,
        grantId,
      })
      expect(accessed[0]?.tenantId).toBe(alice.orgId)
      expect(JSON.stringify(accessed)).not.toContain('values-v')
      // The owner of the organisation is not a service: 403. Org B, as a user or as the service
      // naming org B, finds no such grant: 404.
      expect((await values(alice.orgId, grantId, alice.authorization)).status).toBe(403)
      expect((await values(bob.orgId, grantId, bob.authorization)).status).toBe(404)
      expect((await values(bob.orgId, grantId)).status).toBe(404)
      expect((await values(alice.orgId, randomUUID())).status).toBe(404)
      expect((await values(alice.orgId, 'nope')).status).toBe(404)
      // A service credential without secrets:deliver reads nothing.
      const other = await call('POST', '/v1/admin/service-credentials', alice.authorization, {
        service: 'deployer',
        permissions: ['secrets:read'],
      })
      expect((await values(alice.orgId, grantId, `Service ${other.body.credential}`)).status).toBe(403)
      // Only the service's read was recorded.
      expect(
        events.filter(
          (e) => e.type === 'evt.secret.accessed' && (e.data as SecretAccessed).grantId === grantId,
        ),
      ).toHaveLength(1)
    })

    it('answers 404 for an expired grant, and a new command makes a new grant', async () => {
      await create(alice, { name: 'short', projectId: 'prj-expired', value: 'brief' })
      const deploymentId = deployment()
      const command = { deploymentId, projectId: 'prj-expired', envId: 'env-x', refs: ['secret://short'] }
      const first = (await issue(alice.orgId, command)).granted as SecretGranted
      expect((await values(alice.orgId, first.grantId)).status).toBe(200)
      await inTenant(
        alice.orgId,
        "UPDATE grants SET expires_at = now() - interval '1 second' WHERE id = $1",
        [first.grantId],
      )
      const expired = await values(alice.orgId, first.grantId)
      expect(expired.status).toBe(404)
      expect(expired.body.detail).toContain('expired')
      const second = (await issue(alice.orgId, command)).granted as SecretGranted
      expect(second.grantId).not.toBe(first.grantId)
      expect((await values(alice.orgId, second.grantId)).status).toBe(200)
    })

    it("purges every organisation's grants a day past expiry, and no other grant", async () => {
      const grantOf = async (who: { orgId: string }, project: string) => {
        await create(who === alice ? alice : bob, { name: 'purged', projectId: project, value: 'v' })
        const command = {
          deploymentId: deployment(),
          projectId: project,
          envId: 'env-p',
          refs: ['secret://purged'],
        }
        return ((await issue(who.orgId, command)).granted as SecretGranted).grantId
      }
      const expireBy = (orgId: string, grantId: string, interval: string) =>
        inTenant(orgId, `UPDATE grants SET expires_at = now() - interval '${interval}' WHERE id = $1`, [
          grantId,
        ])
      const oldA = await grantOf(alice, 'prj-purge-a')
      const oldB = await grantOf(bob, 'prj-purge-b')
      const recent = await grantOf(alice, 'prj-purge-c')
      const live = await grantOf(bob, 'prj-purge-d')
      await expireBy(alice.orgId, oldA, '25 hours')
      await expireBy(bob.orgId, oldB, '2 days')
      await expireBy(alice.orgId, recent, '23 hours')

      // Outside the purge, a DELETE with no tenant reaches nothing.
      expect((await db.transaction((tx) => tx.query('DELETE FROM grants'))).rowCount).toBe(0)
      const purged = await db.transaction((tx) => createSecretRows(tx).purgeExpiredGrants())
      expect(purged).toBeGreaterThanOrEqual(2)
      const left = async (orgId: string, ids: string[]) =>
        (await inTenant<{ id: string }>(orgId, 'SELECT id FROM grants WHERE id = ANY($1)', [ids])).map(
          (r) => r.id,
        )
      expect(await left(alice.orgId, [oldA, recent])).toEqual([recent])
      expect(await left(bob.orgId, [oldB, live])).toEqual([live])
      const pinned = await inTenant<{ n: number }>(
        alice.orgId,
        'SELECT count(*)::int AS n FROM grant_secrets WHERE grant_id = $1',
        [oldA],
      )
      expect(pinned[0]?.n).toBe(0)
    })

    /** Copies a column of org A's row onto org B's: as the superuser on PostgreSQL, else by each role. */
    const transplant = async (
      table: 'secret_versions' | 'data_keys',
      from: { orgId: string; where: string; params: unknown[] },
      to: { orgId: string; where: string; params: unknown[] },
    ) => {
      const column = table === 'secret_versions' ? 'sealed' : 'wrapped'
      if (handle.url !== undefined) {
        // The superuser is above row-level security: it copies straight across tenants.
        const admin = new pg.Client({ connectionString: handle.url })
        await admin.connect()
        try {
          const shift = to.params.length
          const fromWhere = from.where.replace(/\$(\d+)/g, (_, n) => `$${Number(n) + shift}`)
          const done = await admin.query(
            `UPDATE secrets.${table} SET ${column} = (SELECT ${column} FROM secrets.${table} WHERE org_id = '${from.orgId}' AND ${fromWhere})
              WHERE org_id = '${to.orgId}' AND ${to.where}`,
            [...to.params, ...from.params],
          )
          expect(done.rowCount).toBe(1)
        } finally {
          await admin.end()
        }
        return
      }
      const [row] = await inTenant<Record<string, Uint8Array>>(
        from.orgId,
        `SELECT ${column} FROM ${table} WHERE ${from.where}`,
        from.params,
      )
      const done = await db.withTenant(to.orgId, (tx) =>
        tx.query(`UPDATE ${table} SET ${column} = $${to.params.length + 1} WHERE ${to.where}`, [
          ...to.params,
          row?.[column],
        ]),
      )
      expect(done.rowCount).toBe(1)
    }

    it("row swap: org A's sealed value on org B's secret does not decrypt, and says so without either value", async () => {
      const ofA = await create(alice, { name: 'swap/me', projectId: 'prj-swap', value: 'value-of-org-a' })
      const ofB = await create(bob, { name: 'swap/me', projectId: 'prj-swap', value: 'value-of-org-b' })
      const { granted } = await issue(bob.orgId, {
        deploymentId: deployment(),
        projectId: 'prj-swap',
        envId: 'env-swap',
        refs: ['secret://swap/me'],
      })
      const grantId = (granted as SecretGranted).grantId
      expect((await values(bob.orgId, grantId)).body.values[0].value).toBe('value-of-org-b')
      await transplant(
        'secret_versions',
        { orgId: alice.orgId, where: 'secret_id = $1 AND version = 1', params: [ofA.id] },
        { orgId: bob.orgId, where: 'secret_id = $1 AND version = 1', params: [ofB.id] },
      )
      const swapped = await values(bob.orgId, grantId)
      expect(swapped.status).toBe(503)
      expect(swapped.headers['content-type']).toContain('application/problem+json')
      expect(swapped.body.detail).toContain('could not be decrypted')
      expect(swapped.text).not.toMatch(/value-of-org-[ab]/)
      // The published client says the same, as a kit error, against the listening server.
      const client = createSecretsClient(remotePeer({ baseUrl, credential }))
      await expect(client.grantValues(bob.orgId, grantId)).rejects.toBeInstanceOf(UnavailableError)
    })

    it("row swap: org A's wrapped data key on org B's row does not unwrap", async () => {
      const ofB = await create(bob, { name: 'swap/key', projectId: 'prj-swap-key', value: 'key-swap-of-b' })
      await create(alice, { name: 'swap/key', projectId: 'prj-swap-key', value: 'key-swap-of-a' })
      const { granted } = await issue(bob.orgId, {
        deploymentId: deployment(),
        projectId: 'prj-swap-key',
        envId: 'env-swap',
        refs: ['secret://swap/key'],
      })
      const grantId = (granted as SecretGranted).grantId
      await transplant(
        'data_keys',
        { orgId: alice.orgId, where: 'true', params: [] },
        { orgId: bob.orgId, where: 'true', params: [] },
      )
      const swapped = await values(bob.orgId, grantId)
      expect(swapped.status).toBe(503)
      expect(swapped.body.detail).toContain('could not be decrypted')
      expect(swapped.text).not.toMatch(/key-swap-of-[ab]/)
      expect(ofB.id).toBeDefined()
      // Creating or rotating in org B fails the same way: no value is sealed under a key that does not open.
      const rotate = await call('POST', `/v1/secrets/${ofB.id}/rotate`, bob.authorization, { value: 'x' })
      expect(rotate.status).toBe(503)
    })

    it('the published client reads a grant over HTTP from a listening server, and maps its refusals', async () => {
      await create(alice, { name: 'client/token', projectId: 'prj-client', value: 'over-the-wire' })
      const { granted } = await issue(alice.orgId, {
        deploymentId: deployment(),
        projectId: 'prj-client',
        envId: 'env-c',
        refs: ['secret://client/token'],
      })
      const grantId = (granted as SecretGranted).grantId
      expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const client = createSecretsClient(remotePeer({ baseUrl, credential }))
      const read = await client.grantValues(alice.orgId, grantId)
      expect(read.values).toEqual([{ ref: 'secret://client/token', version: 1, value: 'over-the-wire' }])
      await expect(client.grantValues(alice.orgId, randomUUID())).rejects.toBeInstanceOf(NotFoundError)
      await expect(client.grantValues(bob.orgId, grantId)).rejects.toBeInstanceOf(NotFoundError)
      const nowhere = createSecretsClient(remotePeer({ baseUrl: 'http://127.0.0.1:1', credential }))
      await expect(nowhere.grantValues(alice.orgId, grantId)).rejects.toBeInstanceOf(UnavailableError)
    })
  })
}
