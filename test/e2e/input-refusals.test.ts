// What the API refuses of every route's input, whatever the route, through the whole build: a NUL
// character in any string (PostgreSQL stores it in neither text nor jsonb), a body field the route
// does not have, a body value of another type than its field's (no coercion), each with 400
// problem+json naming the field and nothing written. The mechanism is the kit's (packages/kit/src/http/validation.ts);
// this suite checks that the contexts' routes get it, on PGlite and PostgreSQL.
import { randomBytes } from 'node:crypto'
import type { Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalog } from '../../apps/server/src/catalog.ts'

const nul = '\u0000'
const password = 'a long passphrase'

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`input refusals on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let owner = ''
    let orgId = ''
    const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, auth = owner) => {
      const res = await runtime.app.inject({
        method,
        url,
        headers: {
          ...(auth === '' ? {} : { authorization: auth, 'x-rxt-org': orgId }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      })
      return { status: res.statusCode, type: String(res.headers['content-type']), body: res.json() }
    }
    const expectRefused = (
      res: { status: number; type: string; body: { errors?: { path: string; message: string }[] } },
      path: string,
    ) => {
      expect(res.status).toBe(400)
      expect(res.type).toMatch(/^application\/problem\+json/)
      expect(res.body.errors).toContainEqual({ path, message: expect.stringMatching(/NUL/) })
    }

    beforeAll(async () => {
      handle = await target.create()
      runtime = await startTestRuntime({
        contexts: catalog,
        database: handle.database,
        env: {
          WEBHOOK_KEY: randomBytes(32).toString('base64url'),
          SECRETS_KEY: randomBytes(32).toString('base64url'),
        },
      })
      const signed = await call(
        'POST',
        '/v1/auth/signup',
        { email: 'owner@example.com', password, name: 'Owner', orgName: 'Owner' },
        '',
      )
      expect(signed.status).toBe(201)
      owner = `Bearer ${signed.body.accessToken}`
      orgId = signed.body.orgId
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it.each([
      'name',
      'orgName',
      'email',
      'password',
    ])('refuses a sign-up with a NUL character in its %s (no login needed), and writes nothing', async (field) => {
      const email = `nul-${field}@example.com`
      const valid = { email, password, name: 'Nul', orgName: 'Nul' }
      const hostile = {
        ...valid,
        [field]:
          field === 'email'
            ? `nul${nul}-${field}@example.com`
            : `${valid[field as keyof typeof valid]}${nul}`,
      }
      expectRefused(await call('POST', '/v1/auth/signup', hostile, ''), `/body/${field}`)
      // nothing half-written: the same account signs up afterwards
      expect((await call('POST', '/v1/auth/signup', valid, '')).status).toBe(201)
    })

    it('refuses a sign-up with a field the API does not have, naming it, and writes nothing', async () => {
      const valid = { email: 'unknown-field@example.com', password, name: 'U', orgName: 'U' }
      const res = await call('POST', '/v1/auth/signup', { ...valid, operator: true, role: 'owner' }, '')
      expect(res.status).toBe(400)
      expect(res.type).toMatch(/^application\/problem\+json/)
      expect(res.body.errors).toEqual(
        expect.arrayContaining([
          { path: '/body/operator', message: 'is not a field of this request' },
          { path: '/body/role', message: 'is not a field of this request' },
        ]),
      )
      expect((await call('POST', '/v1/auth/signup', valid, '')).status).toBe(201)
    })

    it('takes a body as typed: a number is not a slug, a string not a promotion order', async () => {
      const slug = await call('POST', '/v1/projects', { slug: 5, name: 'Five' })
      expect(slug.status).toBe(400)
      expect(slug.body.errors).toContainEqual({ path: '/body/slug', message: 'must be string' })
      expect(
        (await call('GET', '/v1/projects')).body.items.map((p: { slug: string }) => p.slug),
      ).not.toContain('5')
      const project = await call('POST', '/v1/projects', { slug: 'typed', name: 'Typed' })
      const order = await call('POST', `/v1/projects/${project.body.id}/environments`, {
        name: 'dev',
        type: 'development',
        promotionOrder: '1',
      })
      expect(order.status).toBe(400)
      expect(order.body.errors).toContainEqual({ path: '/body/promotionOrder', message: 'must be integer' })
    })

    it('refuses a NUL character in what a signed-in caller writes: an organisation, a project, an override', async () => {
      expectRefused(await call('POST', '/v1/orgs', { name: `Org${nul}` }), '/body/name')
      const projects = '/v1/projects'
      expectRefused(await call('POST', projects, { slug: `web${nul}`, name: 'Web' }), '/body/slug')
      const project = await call('POST', projects, { slug: 'web', name: 'Web' })
      expect(project.status).toBe(201)
      const environments = `${projects}/${project.body.id}/environments`
      expectRefused(
        await call('POST', environments, {
          name: 'prod',
          type: 'production',
          overrides: { env: { GREETING: `hi${nul}` } },
        }),
        '/body/overrides/env/GREETING',
      )
      expect((await call('GET', environments)).body.items).toEqual([])
      expectRefused(await call('GET', `${projects}/web%00`), '/params/projectId')
    })
  })
}
