import type { Envelope } from '@rxt/contracts'
import { type Clock, createLogger, defineContext, loadMigrations, openDatabase, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { generateKeyPair, importJWK, type JWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { identity } from '../src/index.ts'
import { principalRefreshAfterMs, principalTtlMs } from '../src/principals.ts'

const log = createLogger({ level: 'silent' })
const password = 'correct horse battery staple'

/** A clock the suite moves forward to expire tokens. */
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) } satisfies Clock & {
  offsetMs: number
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`identity on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    const accessEvents: Envelope[] = []

    const call = async (
      method: string,
      url: string,
      auth?: string,
      payload?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url: `/v1${url}`,
        headers: { ...(auth === undefined ? {} : { authorization: auth }), ...headers },
        ...(payload === undefined ? {} : { payload: payload as object }),
      })
      return { status: res.statusCode, body: res.body === '' ? undefined : res.json(), headers: res.headers }
    }
    const bearer = (token: string) => `Bearer ${token}`
    const signup = async (email: string, orgName: string) => {
      const res = await call('POST', '/auth/signup', undefined, {
        email,
        password,
        name: email.split('@')[0],
        orgName,
      })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return res.body as { userId: string; orgId: string; accessToken: string; refreshToken: string }
    }

    /** The identity schema as the context's own role sees it (RLS applies). */
    const contextDb = async () =>
      handle.database.openContext(
        'identity',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
        {
          kitMigrations: await loadMigrations(
            new URL('../../../packages/kit/src/migrations/context/', import.meta.url),
          ),
        },
      )
    /** A token signed with the installation's current signing key, with whatever claims the test gives. */
    const signedWithOurKey = async (claims: Record<string, unknown>) => {
      const db = await contextDb()
      const key = (
        await db.query<{ kid: string; private_jwk: JWK }>(
          'SELECT kid, private_jwk FROM signing_keys WHERE retired_at IS NULL',
        )
      ).rows[0] as { kid: string; private_jwk: JWK }
      const now = Math.floor(clock.now().getTime() / 1000)
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt' })
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(await importJWK(key.private_jwk, 'EdDSA'))
    }

    beforeAll(async () => {
      handle = await target.create()
      const watcher = defineContext({
        name: 'watcher',
        handlers: () => [
          { id: 'access', types: ['evt.access.changed'], handle: async (m) => void accessEvents.push(m) },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, watcher],
        database: handle.database,
        clock,
        // Every call comes from one address, and this suite fails authentication on purpose often.
        env: { AUTH_FAILURES_PER_MINUTE: '1000' },
      })
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    let alice: Awaited<ReturnType<typeof signup>>
    let bob: Awaited<ReturnType<typeof signup>>
    let bobKey: string

    it('signs up (the first user is the operator), signs in, and says who is signed in', async () => {
      alice = await signup('alice@example.com', 'Acme')
      bob = await signup('bob@example.com', 'Globex')
      const me = await call('GET', '/me', bearer(alice.accessToken))
      expect(me.body).toMatchObject({
        email: 'alice@example.com',
        operator: true,
        orgs: [{ id: alice.orgId, name: 'Acme', role: 'owner' }],
      })
      expect((await call('GET', '/me', bearer(bob.accessToken))).body).toMatchObject({ operator: false })
      expect(
        (
          await call('POST', '/auth/signup', undefined, {
            email: 'ALICE@example.com',
            password,
            name: 'a',
            orgName: 'x',
          })
        ).status,
      ).toBe(409)
      const login = await call('POST', '/auth/login', undefined, { email: 'alice@example.com', password })
      expect(login.status).toBe(200)
      expect(
        (
          await call('POST', '/auth/login', undefined, {
            email: 'alice@example.com',
            password: 'wrong password!',
          })
        ).status,
      ).toBe(401)
      expect(
        (await call('POST', '/auth/login', undefined, { email: 'nobody@example.com', password })).status,
      ).toBe(401)
      await until(
        () => accessEvents.filter((e) => e.data && (e.data as { role: string }).role === 'owner').length >= 2,
        10_000,
      )
      expect(accessEvents.map((e) => e.tenantId)).toEqual(expect.arrayContaining([alice.orgId, bob.orgId]))
    })

    it('takes a password as NIST SP 800-63B asks: long enough once normalised, not common, not only spaces, no composition rules', async () => {
      const attempt = (email: string, pass: string, name = 'Grace', orgName = 'Hopper Co') =>
        call('POST', '/auth/signup', undefined, { email, password: pass, name, orgName })
      const refused: [string, string | undefined][] = [
        [' '.repeat(12), undefined],
        [' '.repeat(20), 'spaces'],
        ['\u3000'.repeat(20), 'spaces'],
        // Control characters (refused by the schema of every string, or by the password's rules).
        ['\t'.repeat(20), undefined],
        ['a long pass\u0000phrase', undefined],
        ['fourteen chars', '15 characters'],
        // 16 code points, 8 characters once normalised (NFKC): e + combining acute is é.
        ['e\u0301'.repeat(8), '15 characters'],
        ['x'.repeat(257), '256 characters'],
        ['password1234567890', 'common'],
        ['Password 1234567890!', 'common'],
        // Full-width letters are the same password once normalised.
        ['ｐａｓｓｗｏｒｄ１２３４５６７８', 'common'],
        ['qwertyuiop!!!!!!', 'common'],
        ['passwordpassword', 'common'],
        ['zzzzzzzzzzzzzzzzzzzz', 'repeated'],
        ['abcabcabcabcabcabc', 'repeated'],
        ['123456789012345678', 'sequence'],
        ['grace.hopper@example.com', 'email'],
        ['Hopper Co Hopper Co', 'organisation'],
      ]
      for (const [pass, why] of refused) {
        const res = await attempt('grace.hopper@example.com', pass)
        expect(res.status, JSON.stringify(pass)).toBe(400)
        expect(res.headers['content-type']).toMatch(/problem\+json/)
        expect(res.body.errors?.[0]?.path, JSON.stringify(pass)).toBe('/body/password')
        if (why !== undefined) expect(res.body.detail, JSON.stringify(pass)).toContain(why)
      }
      // Nothing was written by a refusal.
      expect(
        (await call('POST', '/auth/login', undefined, { email: 'grace.hopper@example.com', password }))
          .status,
      ).toBe(401)
      // No composition rules: lower-case words with spaces do; so does any script, and 64+ characters.
      const accepted = [
        'all lower case words',
        'ça, c’est une phrase de passe',
        '長い日本語のパスフレーズです十五文字',
        'a passphrase of more than sixty-four characters, which any verifier must take in full',
      ]
      for (const [i, pass] of accepted.entries()) {
        const res = await attempt(`accepted-${i}@example.com`, pass)
        expect(res.status, `${pass}: ${JSON.stringify(res.body)}`).toBe(201)
      }
      // The same password in another Unicode form signs in: it is compared once normalised.
      const composed = 'crème brûlée à minuit'.normalize('NFC')
      expect((await attempt('henri@example.com', composed)).status).toBe(201)
      const decomposed = composed.normalize('NFD')
      expect(decomposed).not.toBe(composed)
      expect(
        (await call('POST', '/auth/login', undefined, { email: 'henri@example.com', password: decomposed }))
          .status,
      ).toBe(200)
    })

    it('refuses expired, tampered, foreign-key and alg:none tokens with 401', async () => {
      const token = alice.accessToken
      const [h, p, s] = token.split('.') as [string, string, string]
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
      const forged = Buffer.from(JSON.stringify({ ...payload, sub: bob.userId })).toString('base64url')
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
      const foreign = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', kid: JSON.parse(Buffer.from(h, 'base64url').toString()).kid })
        .sign(privateKey)
      for (const bad of [
        `${h}.${forged}.${s}`,
        none,
        foreign,
        `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`,
        'not-a-jwt',
      ]) {
        const res = await call('GET', '/me', bearer(bad))
        expect(res.status, bad).toBe(401)
        expect(res.headers['content-type']).toMatch(/problem\+json/)
      }
      expect((await call('GET', '/me')).status).toBe(401)
      // Signed with the installation's own key, but with claims no token of ours has: 401, never 500.
      const claims = { sid: payload.sid, iss: payload.iss, aud: payload.aud }
      for (const odd of [
        { ...claims, sub: 'not-a-uuid' },
        { ...claims, sub: "1' OR '1'='1" },
        { ...claims, sub: 42 },
        { ...claims, sub: alice.userId, sid: 'not-a-uuid' },
        { ...claims, sub: alice.userId, sid: ['a'] },
        { ...claims, sub: bob.userId }, // alice's session, bob's id
      ]) {
        const res = await call('GET', '/me', bearer(await signedWithOurKey(odd)))
        expect(res.status, JSON.stringify(odd)).toBe(401)
        expect(res.headers['content-type']).toMatch(/problem\+json/)
      }
      // The same claims as alice's, signed the same way, do answer: the refusals above are the claims'.
      expect(
        (await call('GET', '/me', bearer(await signedWithOurKey({ ...claims, sub: alice.userId })))).status,
      ).toBe(200)
      clock.offsetMs = 16 * 60_000
      try {
        const expired = await call('GET', '/me', bearer(token))
        expect(expired.status).toBe(401)
        expect(expired.body.detail).toMatch(/expired/)
      } finally {
        clock.offsetMs = 0
      }
    })

    it('rotates refresh tokens, and a reused one revokes the whole sign-in', async () => {
      const first = await call('POST', '/auth/refresh', undefined, { refreshToken: alice.refreshToken })
      expect(first.status).toBe(200)
      expect((await call('GET', '/me', bearer(first.body.accessToken))).status).toBe(200)
      // Another sign-in of the same user: a family of its own, untouched by what happens to this one.
      const other = await call('POST', '/auth/login', undefined, { email: 'alice@example.com', password })
      const reuse = await call('POST', '/auth/refresh', undefined, { refreshToken: alice.refreshToken })
      expect(reuse.status).toBe(401)
      expect(reuse.body.detail).toMatch(/revoked/)
      // The family's access tokens end with it: the first one and the one its refresh returned.
      for (const revoked of [alice.accessToken, first.body.accessToken]) {
        const res = await call('GET', '/me', bearer(revoked))
        expect(res.status).toBe(401)
        expect(res.headers['content-type']).toMatch(/problem\+json/)
        expect(res.body.detail).toMatch(/session .*ended/)
      }
      expect((await call('GET', '/me', bearer(other.body.accessToken))).status).toBe(200)
      // The token the first refresh returned belongs to the revoked family too.
      expect(
        (await call('POST', '/auth/refresh', undefined, { refreshToken: first.body.refreshToken })).status,
      ).toBe(401)
      const again = await call('POST', '/auth/login', undefined, { email: 'alice@example.com', password })
      alice = { ...alice, accessToken: again.body.accessToken, refreshToken: again.body.refreshToken }
      expect(
        (await call('POST', '/auth/logout', undefined, { refreshToken: alice.refreshToken })).status,
      ).toBe(204)
      expect(
        (await call('POST', '/auth/refresh', undefined, { refreshToken: alice.refreshToken })).status,
      ).toBe(401)
      expect((await call('GET', '/me', bearer(alice.accessToken))).status).toBe(401)
      // The suite goes on with a live session.
      const live = await call('POST', '/auth/login', undefined, { email: 'alice@example.com', password })
      alice = { ...alice, accessToken: live.body.accessToken, refreshToken: live.body.refreshToken }
    })

    it('never leaves a live token in a session that a logout racing a refresh ended', async () => {
      for (let attempt = 0; attempt < 8; attempt++) {
        const session = await call('POST', '/auth/login', undefined, { email: 'bob@example.com', password })
        const refreshToken = session.body.refreshToken as string
        const [refreshed, loggedOut] = await Promise.all([
          call('POST', '/auth/refresh', undefined, { refreshToken }),
          call('POST', '/auth/logout', undefined, { refreshToken }),
        ])
        expect(loggedOut.status).toBe(204)
        if (refreshed.status !== 200) continue
        // The refresh went first: what it returned ended with the session.
        const next = await call('POST', '/auth/refresh', undefined, {
          refreshToken: refreshed.body.refreshToken,
        })
        expect(next.status, `attempt ${attempt}`).toBe(401)
        expect((await call('GET', '/me', bearer(refreshed.body.accessToken))).status).toBe(401)
      }
    })

    it('ends the access token at logout: at once on this replica, within seconds on every other', async () => {
      // Another identity replica on the same database, and a process without the identity context that
      // authenticates through that replica (IDENTITY_URL), as the distributed mode runs them.
      const probe = defineContext({
        name: 'probe',
        routes: (app) => {
          app.get('/probe', { config: { auth: { authenticated: true } } }, async (request) => ({
            id: request.principal?.id,
          }))
        },
      })
      const replica = await startTestRuntime({
        contexts: [identity],
        database: handle.database,
        clock,
        mode: 'distributed',
        env: { AUTH_FAILURES_PER_MINUTE: '1000' },
      })
      let remote: Runtime | undefined
      try {
        remote = await startTestRuntime({
          contexts: [probe],
          database: handle.database,
          clock,
          mode: 'distributed',
          env: { IDENTITY_URL: await replica.listen(), AUTH_FAILURES_PER_MINUTE: '1000' },
        })
        const through = (app: Runtime, url: string) => async (token: string) =>
          (await app.app.inject({ method: 'GET', url, headers: { authorization: bearer(token) } })).statusCode
        const here = async (token: string) => (await call('GET', '/me', bearer(token))).status
        const onReplica = through(replica, '/v1/me')
        const onRemote = through(remote, '/v1/probe')

        const session = await call('POST', '/auth/login', undefined, { email: 'bob@example.com', password })
        const token = session.body.accessToken as string
        // Every process has seen the token work (and keeps that answer in its caches).
        expect([await here(token), await onReplica(token), await onRemote(token)]).toEqual([200, 200, 200])

        expect(
          (await call('POST', '/auth/logout', undefined, { refreshToken: session.body.refreshToken })).status,
        ).toBe(204)
        expect(await here(token)).toBe(401)
        // Bounded well past the cache windows (the session check's, and the remote's 5 s).
        await until(async () => (await onReplica(token)) === 401, 20_000, 'the other replica to refuse it')
        await until(async () => (await onRemote(token)) === 401, 20_000, 'the remote process to refuse it')
        // Only that session ended: a new sign-in works everywhere.
        const again = await call('POST', '/auth/login', undefined, { email: 'bob@example.com', password })
        const fresh = again.body.accessToken as string
        expect([await here(fresh), await onReplica(fresh), await onRemote(fresh)]).toEqual([200, 200, 200])
      } finally {
        await remote?.stop()
        await replica.stop()
      }
    })

    it('reads a user in use again before the cached principal expires: another replica sees a change sooner', async () => {
      const replica = await startTestRuntime({
        contexts: [identity],
        database: handle.database,
        clock,
        mode: 'distributed',
        env: { AUTH_FAILURES_PER_MINUTE: '1000' },
      })
      try {
        const reader = await signup('refreshed@example.com', 'Refreshed')
        const roleOnReplica = async () => {
          const res = await replica.app.inject({
            method: 'GET',
            url: '/v1/auth/whoami',
            headers: { authorization: bearer(reader.accessToken) },
          })
          expect(res.statusCode).toBe(200)
          return (res.json() as { orgs: { id: string; role: string }[] }).orgs[0]?.role
        }
        const loaded = Date.now()
        expect(await roleOnReplica()).toBe('owner')
        // Past the point where a request reads the user again, but well within the entry's lifetime.
        await new Promise((resolve) => setTimeout(resolve, principalRefreshAfterMs + 200))
        // A change only the database knows of (as when another replica made it).
        const db = await contextDb()
        await db.withTenant(reader.orgId, (tx) =>
          tx.query(`UPDATE memberships SET role = 'viewer' WHERE user_id = $1`, [reader.userId]),
        )
        // Answered from the cache; the read behind it brings the change.
        expect(await roleOnReplica()).toBe('owner')
        await until(async () => (await roleOnReplica()) === 'viewer', 5_000, 'the replica to see the change')
        // Had it waited for the entry to expire, the old role would have held until then.
        expect(Date.now() - loaded).toBeLessThan(principalTtlMs)
      } finally {
        await replica.stop()
      }
    })

    it("isolates tenants: another organisation's JWT and API key get 404 and change nothing", async () => {
      const key = await call('POST', `/orgs/${bob.orgId}/api-keys`, bearer(bob.accessToken), {
        name: 'ci',
        role: 'admin',
      })
      expect(key.status).toBe(201)
      bobKey = key.body.key
      expect((await call('GET', `/orgs/${bob.orgId}`, `ApiKey ${bobKey}`)).status).toBe(200)
      const listed = await call('GET', `/orgs/${bob.orgId}/api-keys`, `ApiKey ${bobKey}`)
      expect(JSON.stringify(listed.body)).not.toContain(bobKey.slice('rxtk_'.length + 32 + 1))

      const aliceMembersBefore = (
        await call('GET', `/orgs/${alice.orgId}/members`, bearer(alice.accessToken))
      ).body
      const a = alice.orgId
      const attempts: [string, string, unknown?][] = [
        ['GET', `/orgs/${a}`],
        ['GET', `/orgs/${a}/members`],
        ['PATCH', `/orgs/${a}/members/${alice.userId}`, { role: 'viewer' }],
        ['DELETE', `/orgs/${a}/members/${alice.userId}`],
        ['POST', `/orgs/${a}/roles`, { name: 'intruder', permissions: ['org:read'] }],
        ['GET', `/orgs/${a}/api-keys`],
        ['POST', `/orgs/${a}/api-keys`, { name: 'x', role: 'owner' }],
        ['DELETE', `/orgs/${a}/api-keys/01890000-0000-7000-8000-000000000000`],
        ['POST', `/orgs/${a}/invites`, { email: 'mallory@example.com', role: 'owner' }],
      ]
      for (const auth of [bearer(bob.accessToken), `ApiKey ${bobKey}`]) {
        for (const [method, url, body] of attempts) {
          const res = await call(method, url, auth, body)
          expect(res.status, `${method} ${url} as ${auth.split(' ')[0]}`).toBe(404)
          expect(JSON.stringify(res.body)).not.toContain('alice@example.com')
        }
      }
      expect((await call('GET', `/orgs/${alice.orgId}/members`, bearer(alice.accessToken))).body).toEqual(
        aliceMembersBefore,
      )
    })

    it('puts the caller on every event a request causes: the user, the API key, or the new user at signup', async () => {
      const grantedTo = (id: string) =>
        accessEvents.find(
          (e) =>
            (e.data as { subject: { id: string } }).subject.id === id &&
            (e.data as { change: string }).change === 'granted',
        )
      const made = await call('POST', `/orgs/${bob.orgId}/api-keys`, `ApiKey ${bobKey}`, {
        name: 'made by a key',
        role: 'viewer',
      })
      expect(made.status).toBe(201)
      await until(() => grantedTo(made.body.id) !== undefined, 10_000)
      expect(accessEvents.find((e) => e.tenantId === alice.orgId)?.actor).toBe(`user:${alice.userId}`)
      const bobKeyId = (
        await call('GET', `/orgs/${bob.orgId}/api-keys`, bearer(bob.accessToken))
      ).body.items.find((k: { name: string }) => k.name === 'ci').id
      expect(grantedTo(bobKeyId)?.actor).toBe(`user:${bob.userId}`)
      expect(grantedTo(made.body.id)?.actor).toBe(`api-key:${bobKeyId}`)
    })

    it('lets a viewer read but not change, and a developer work but not manage members; invites are single use', async () => {
      const carolInvite = await call('POST', `/orgs/${alice.orgId}/invites`, bearer(alice.accessToken), {
        email: 'carol@example.com',
        role: 'viewer',
      })
      const daveInvite = await call('POST', `/orgs/${alice.orgId}/invites`, bearer(alice.accessToken), {
        email: 'dave@example.com',
        role: 'developer',
      })
      expect(carolInvite.status).toBe(201)
      const carol = await signup('carol@example.com', 'Carol Co')
      const dave = await signup('dave@example.com', 'Dave Co')
      expect(
        (await call('POST', `/invites/${carolInvite.body.token}/accept`, bearer(dave.accessToken))).status,
      ).toBe(403)
      expect(
        (await call('POST', `/invites/${carolInvite.body.token}/accept`, bearer(carol.accessToken))).body,
      ).toEqual({ orgId: alice.orgId, role: 'viewer' })
      expect(
        (await call('POST', `/invites/${carolInvite.body.token}/accept`, bearer(carol.accessToken))).status,
      ).toBe(409)
      expect(
        (await call('POST', `/invites/${daveInvite.body.token}/accept`, bearer(dave.accessToken))).status,
      ).toBe(200)
      const inAcme = { 'x-rxt-org': alice.orgId }

      expect((await call('GET', `/orgs/${alice.orgId}/members`, bearer(carol.accessToken))).status).toBe(200)
      expect(
        (
          await call('PATCH', `/orgs/${alice.orgId}/members/${dave.userId}`, bearer(carol.accessToken), {
            role: 'viewer',
          })
        ).status,
      ).toBe(403)
      expect(
        (
          await call('POST', `/orgs/${alice.orgId}/api-keys`, bearer(carol.accessToken), {
            name: 'x',
            role: 'viewer',
          })
        ).status,
      ).toBe(403)
      expect(
        (await call('DELETE', `/orgs/${alice.orgId}/members/${carol.userId}`, bearer(dave.accessToken)))
          .status,
      ).toBe(403)
      expect(
        (
          await call('POST', `/orgs/${alice.orgId}/invites`, bearer(dave.accessToken), {
            email: 'e@example.com',
            role: 'viewer',
          })
        ).status,
      ).toBe(403)
      const roles = await call('GET', '/roles', bearer(dave.accessToken), undefined, inAcme)
      expect(roles.body.items.map((r: { name: string }) => r.name)).toEqual([
        'owner',
        'admin',
        'developer',
        'viewer',
      ])

      // An admin may not demote or remove an owner.
      const asAdmin = await call(
        'PATCH',
        `/orgs/${alice.orgId}/members/${carol.userId}`,
        bearer(alice.accessToken),
        {
          role: 'admin',
        },
      )
      expect(asAdmin.status).toBe(200)
      expect(
        (
          await call('PATCH', `/orgs/${alice.orgId}/members/${alice.userId}`, bearer(carol.accessToken), {
            role: 'viewer',
          })
        ).status,
      ).toBe(403)
      expect(
        (await call('DELETE', `/orgs/${alice.orgId}/members/${alice.userId}`, bearer(carol.accessToken)))
          .status,
      ).toBe(403)
      // The owner promotes carol; a custom role; the last owner cannot leave.
      expect(
        (
          await call('PATCH', `/orgs/${alice.orgId}/members/${carol.userId}`, bearer(alice.accessToken), {
            role: 'admin',
          })
        ).status,
      ).toBe(200)
      expect(
        (
          await call('POST', `/orgs/${alice.orgId}/roles`, bearer(alice.accessToken), {
            name: 'auditor',
            permissions: ['audit:read', 'org:read'],
          })
        ).status,
      ).toBe(201)
      const badRole = await call('POST', `/orgs/${alice.orgId}/roles`, bearer(alice.accessToken), {
        name: 'bad',
        permissions: ['org:read', 'root:everything'],
      })
      expect(badRole.status).toBe(400)
      // A field the domain refuses is named as the schema names the fields it refuses.
      expect(badRole.body.errors).toEqual([
        { path: '/body/permissions/1', message: 'no permission root:everything' },
      ])
      // Reading a deployment's secret values is a service's alone: no custom role may hold it.
      const deliverRole = await call('POST', `/orgs/${alice.orgId}/roles`, bearer(alice.accessToken), {
        name: 'courier',
        permissions: ['secrets:read', 'secrets:deliver'],
      })
      expect(deliverRole.status).toBe(400)
      expect(deliverRole.body.errors).toEqual([
        {
          path: '/body/permissions/1',
          message: "secrets:deliver is held by the platform's service credentials only, not by a role",
        },
      ])
      const unknownRole = await call('POST', `/orgs/${alice.orgId}/api-keys`, bearer(alice.accessToken), {
        name: 'k',
        role: 'nobody-has-this',
      })
      expect(unknownRole.status).toBe(400)
      expect(unknownRole.body.errors).toEqual([{ path: '/body/role', message: 'unknown role' }])
      expect(
        (await call('DELETE', `/orgs/${alice.orgId}/members/${alice.userId}`, bearer(alice.accessToken)))
          .status,
      ).toBe(409)
      expect(
        (
          await call('PATCH', `/orgs/${alice.orgId}/members/${dave.userId}`, bearer(alice.accessToken), {
            role: 'auditor',
          })
        ).status,
      ).toBe(200)
      expect((await call('GET', `/orgs/${alice.orgId}`, bearer(dave.accessToken))).status).toBe(200)
      expect((await call('GET', `/orgs/${alice.orgId}/members`, bearer(dave.accessToken))).status).toBe(403)
    })

    it('lets nobody grant more than they may do, and retires what a removed member made', async () => {
      const owner = bearer(alice.accessToken)
      const invite = await call('POST', `/orgs/${alice.orgId}/invites`, owner, {
        email: 'erin@example.com',
        role: 'admin',
      })
      const erin = await signup('erin@example.com', 'Erin Co')
      await call('POST', `/invites/${invite.body.token}/accept`, bearer(erin.accessToken))
      const asErin = bearer(erin.accessToken)
      // An admin cannot mint billing:manage through a custom role, an invite, a key or a role change.
      expect(
        (
          await call('POST', `/orgs/${alice.orgId}/roles`, asErin, {
            name: 'finance',
            permissions: ['billing:manage'],
          })
        ).status,
      ).toBe(403)
      expect(
        (
          await call('POST', `/orgs/${alice.orgId}/invites`, asErin, {
            email: 'x@example.com',
            role: 'owner',
          })
        ).status,
      ).toBe(403)
      expect(
        (await call('POST', `/orgs/${alice.orgId}/api-keys`, asErin, { name: 'k', role: 'owner' })).status,
      ).toBe(403)
      expect(
        (await call('PATCH', `/orgs/${alice.orgId}/members/${erin.userId}`, asErin, { role: 'owner' }))
          .status,
      ).toBe(403)
      // What erin made stops working when erin leaves.
      const key = await call('POST', `/orgs/${alice.orgId}/api-keys`, asErin, {
        name: 'erin-ci',
        role: 'admin',
      })
      const pending = await call('POST', `/orgs/${alice.orgId}/invites`, asErin, {
        email: 'frank@example.com',
        role: 'admin',
      })
      expect((await call('GET', `/orgs/${alice.orgId}/members`, `ApiKey ${key.body.key}`)).status).toBe(200)
      expect((await call('DELETE', `/orgs/${alice.orgId}/members/${erin.userId}`, owner)).status).toBe(204)
      expect((await call('GET', `/orgs/${alice.orgId}/members`, `ApiKey ${key.body.key}`)).status).toBe(401)
      const frank = await signup('frank@example.com', 'Frank Co')
      expect(
        (await call('POST', `/invites/${pending.body.token}/accept`, bearer(frank.accessToken))).status,
      ).toBe(409)
    })

    it('does not keep a secret shown once for an Idempotency-Key replay, and does not run the request twice', async () => {
      const headers = { 'idempotency-key': 'key-once' }
      const owner = bearer(bob.accessToken)
      const before = (await call('GET', `/orgs/${bob.orgId}/api-keys`, owner)).body.items.length
      const first = await call(
        'POST',
        `/orgs/${bob.orgId}/api-keys`,
        owner,
        { name: 'once', role: 'viewer' },
        headers,
      )
      expect(first.status).toBe(201)
      const again = await call(
        'POST',
        `/orgs/${bob.orgId}/api-keys`,
        owner,
        { name: 'once', role: 'viewer' },
        headers,
      )
      expect(again.status).toBe(409)
      expect(again.body.detail).toMatch(/secret shown once/)
      expect((await call('GET', `/orgs/${bob.orgId}/api-keys`, owner)).body.items).toHaveLength(before + 1)
    })

    it('revokes an API key at once, and keeps operator routes to the operator', async () => {
      const list = await call('GET', `/orgs/${bob.orgId}/api-keys`, bearer(bob.accessToken))
      const id = list.body.items[0].id
      expect(list.body.items[0].lastUsedAt).not.toBeNull()
      expect(
        (await call('DELETE', `/orgs/${bob.orgId}/api-keys/${id}`, bearer(bob.accessToken))).status,
      ).toBe(204)
      expect((await call('GET', `/orgs/${bob.orgId}`, `ApiKey ${bobKey}`)).status).toBe(401)
      expect((await call('GET', '/admin/dead-letters', bearer(bob.accessToken))).status).toBe(403)
      const fresh = await call('POST', '/auth/login', undefined, { email: 'alice@example.com', password })
      expect((await call('GET', '/admin/dead-letters', bearer(fresh.body.accessToken))).status).toBe(200)
      // Rotation: a token signed by the old key still verifies; the JWKS lists both keys.
      expect((await call('POST', '/admin/signing-keys/rotate', bearer(fresh.body.accessToken))).status).toBe(
        200,
      )
      expect((await call('GET', '/me', bearer(fresh.body.accessToken))).status).toBe(200)
      expect((await call('GET', '/.well-known/jwks.json')).body.keys).toHaveLength(2)
    })

    it('issues service credentials to operators only: a service acts in any organisation it names, within its permissions', async () => {
      const body = { service: 'deployer', permissions: ['org:read'] }
      expect((await call('POST', '/admin/service-credentials', bearer(bob.accessToken), body)).status).toBe(
        403,
      )
      const nope = await call('POST', '/admin/service-credentials', bearer(alice.accessToken), {
        ...body,
        permissions: ['nope'],
      })
      expect(nope.status).toBe(400)
      expect(nope.body.errors).toEqual([{ path: '/body/permissions/0', message: 'no permission nope' }])
      const issued = await call('POST', '/admin/service-credentials', bearer(alice.accessToken), body)
      expect(issued.status).toBe(201)
      expect(issued.body).toMatchObject({ service: 'deployer', permissions: ['org:read'], revokedAt: null })
      // A service credential may hold what no role does.
      const courier = await call('POST', '/admin/service-credentials', bearer(alice.accessToken), {
        service: 'adapter-spot',
        permissions: ['secrets:deliver'],
      })
      expect(courier.status).toBe(201)
      expect(courier.body.permissions).toEqual(['secrets:deliver'])
      const service = `Service ${issued.body.credential}`

      expect((await call('GET', `/orgs/${alice.orgId}`, service)).status).toBe(200)
      expect((await call('GET', `/orgs/${bob.orgId}`, service)).status).toBe(200)
      expect((await call('GET', `/orgs/${bob.orgId}/members`, service)).status).toBe(403)
      expect((await call('POST', '/admin/signing-keys/rotate', service)).status).toBe(403)
      expect((await call('GET', '/auth/whoami', service)).body).toMatchObject({
        kind: 'service',
        id: 'deployer',
        orgs: [],
        everyOrg: { permissions: ['org:read'] },
      })
      const wrong = `${issued.body.credential.slice(0, -4)}AAAA`
      expect((await call('GET', `/orgs/${bob.orgId}`, `Service ${wrong}`)).status).toBe(401)

      const listed = await call('GET', '/admin/service-credentials', bearer(alice.accessToken))
      expect(JSON.stringify(listed.body)).not.toContain(issued.body.credential.slice(-20))
      expect(listed.body.items.find((c: { id: string }) => c.id === issued.body.id).lastUsedAt).not.toBeNull()
      expect((await call('GET', '/admin/service-credentials', service)).status).toBe(403)

      expect(
        (await call('DELETE', `/admin/service-credentials/${issued.body.id}`, bearer(alice.accessToken)))
          .status,
      ).toBe(204)
      expect((await call('GET', `/orgs/${bob.orgId}`, service)).status).toBe(401)
    })

    it('rotates an API key: the old one stops at once, or after its grace period', async () => {
      const owner = bearer(bob.accessToken)
      const created = await call('POST', `/orgs/${bob.orgId}/api-keys`, owner, {
        name: 'deploy',
        role: 'developer',
      })
      const old = `ApiKey ${created.body.key}`
      expect((await call('GET', `/orgs/${bob.orgId}`, old)).status).toBe(200)
      const now = await call('POST', `/orgs/${bob.orgId}/api-keys/${created.body.id}/rotate`, owner, {})
      expect(now.status).toBe(201)
      expect(now.body).toMatchObject({
        name: 'deploy',
        role: 'developer',
        previous: { id: created.body.id, validUntil: null },
      })
      expect((await call('GET', `/orgs/${bob.orgId}`, old)).status).toBe(401)
      const current = `ApiKey ${now.body.key}`
      expect((await call('GET', `/orgs/${bob.orgId}`, current)).status).toBe(200)

      const graced = await call('POST', `/orgs/${bob.orgId}/api-keys/${now.body.id}/rotate`, owner, {
        graceHours: 1,
      })
      expect((await call('GET', `/orgs/${bob.orgId}`, current)).status).toBe(200)
      expect((await call('GET', `/orgs/${bob.orgId}`, `ApiKey ${graced.body.key}`)).status).toBe(200)
      // A key in its grace period has its successor: rotating it again is refused, and says until when
      // it works and which key to rotate instead; nothing is written.
      const keysBefore = (await call('GET', `/orgs/${bob.orgId}/api-keys`, owner)).body.items
      for (const graceHours of [1, 0]) {
        const twice = await call('POST', `/orgs/${bob.orgId}/api-keys/${now.body.id}/rotate`, owner, {
          graceHours,
        })
        expect(twice.status).toBe(409)
        expect(twice.headers['content-type']).toMatch(/problem\+json/)
        expect(twice.body.detail).toContain(graced.body.previous.validUntil)
        expect(twice.body.detail).toContain(graced.body.id)
      }
      const keysAfter = (await call('GET', `/orgs/${bob.orgId}/api-keys`, owner)).body.items
      expect(keysAfter).toHaveLength(keysBefore.length)
      expect(keysAfter.find((k: { id: string }) => k.id === now.body.id)).toMatchObject({
        replacedBy: graced.body.id,
        revokedAt: null,
      })
      expect(keysAfter.find((k: { id: string }) => k.id === graced.body.id)).toMatchObject({
        replacedBy: null,
      })
      // Two rotations at once: one successor.
      const parallel = await call('POST', `/orgs/${bob.orgId}/api-keys`, owner, {
        name: 'parallel',
        role: 'viewer',
      })
      const both = await Promise.all(
        [1, 2].map(() =>
          call('POST', `/orgs/${bob.orgId}/api-keys/${parallel.body.id}/rotate`, owner, { graceHours: 1 }),
        ),
      )
      expect(both.map((r) => r.status).sort()).toEqual([201, 409])
      const named = (await call('GET', `/orgs/${bob.orgId}/api-keys`, owner)).body.items.filter(
        (k: { name: string }) => k.name === 'parallel',
      )
      expect(named).toHaveLength(2)
      clock.offsetMs = 2 * 3_600_000
      try {
        expect((await call('GET', `/orgs/${bob.orgId}`, current)).status).toBe(401)
        // Past its grace period it is no key at all: nothing to rotate.
        const signedInLater = await call('POST', '/auth/login', undefined, {
          email: 'bob@example.com',
          password,
        })
        const late = await call(
          'POST',
          `/orgs/${bob.orgId}/api-keys/${now.body.id}/rotate`,
          bearer(signedInLater.body.accessToken),
          {},
        )
        expect(late.status).toBe(404)
        expect(late.body.detail).toMatch(/expired/)
      } finally {
        clock.offsetMs = 0
      }
      // A rotated-away key cannot be rotated again.
      expect(
        (await call('POST', `/orgs/${bob.orgId}/api-keys/${created.body.id}/rotate`, owner, {})).status,
      ).toBe(404)
    })

    it('shows no tenant rows to a query without the tenant setting (row-level security)', async () => {
      const db = await contextDb()
      for (const table of ['memberships', 'roles', 'api_keys', 'invites']) {
        const all = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)
        expect(Number(all.rows[0]?.n), table).toBe(0)
      }
      const inAcme = await db.withTenant(alice.orgId, (tx) =>
        tx.query<{ n: string }>('SELECT count(*) AS n FROM memberships'),
      )
      expect(Number(inAcme.rows[0]?.n)).toBe(3)
    })
  })
}

describe('identity with SIGNUP_ENABLED=false', () => {
  it('lets the first user of an installation sign up, and nobody after', async () => {
    const database = await openDatabase({ kind: 'pglite' }, log)
    const runtime = await startTestRuntime({
      contexts: [identity],
      database,
      env: { SIGNUP_ENABLED: 'false' },
    })
    try {
      const signup = (email: string) =>
        runtime.app.inject({
          method: 'POST',
          url: '/v1/auth/signup',
          payload: { email, password, name: 'x', orgName: 'x' },
        })
      expect((await signup('first@example.com')).statusCode).toBe(201)
      const second = await signup('second@example.com')
      expect(second.statusCode).toBe(403)
      expect(second.json().detail).toMatch(/invite/)
    } finally {
      await runtime.stop()
      await database.close()
    }
  })
})
