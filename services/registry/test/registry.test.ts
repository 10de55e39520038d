import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Envelope } from '@rxt/contracts'
import { webhookSecret } from '@rxt/contracts/webhooks'
import { identity } from '@rxt/identity'
import { type Clock, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registry } from '../src/index.ts'

const manifestsDir = new URL('../../../packages/contracts/src/manifest/fixtures/', import.meta.url)
const minimal = readFileSync(new URL('minimal.yaml', manifestsDir), 'utf8')
const full = readFileSync(new URL('full.yaml', manifestsDir), 'utf8')

const webhookKey = randomBytes(32).toString('base64url')

/** A clock the suite moves forward past the 30 days of retention. */
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) } satisfies Clock & {
  offsetMs: number
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`registry on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    const events: Envelope[] = []
    let auth: string
    let userId: string

    const call = async (method: string, url: string, payload?: unknown, authorization = auth) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url: `/v1${url}`,
        headers: { authorization },
        ...(payload === undefined ? {} : { payload: payload as object }),
      })
      return { status: res.statusCode, body: res.body === '' ? undefined : res.json(), headers: res.headers }
    }

    beforeAll(async () => {
      handle = await target.create()
      const watcher = defineContext({
        name: 'watcher',
        handlers: () => [
          {
            id: 'projects',
            types: ['evt.project.created', 'evt.project.updated'],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, registry, watcher],
        database: handle.database,
        clock,
        env: { WEBHOOK_KEY: webhookKey, PUBLIC_URL: 'https://deploy.example.com' },
      })
      const account = await signUp(runtime, 'reg@example.com')
      auth = account.authorization
      userId = account.userId
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    let projectId: string
    it('creates, lists, changes and refuses a second project of one slug, with events naming the actor', async () => {
      const created = await call('POST', '/projects', { slug: 'shop', name: 'Shop', repository: 'acme/shop' })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      expect(created.body).toMatchObject({
        slug: 'shop',
        defaultBranch: 'main',
        deployBranches: ['main'],
        createdBy: `user:${userId}`,
      })
      projectId = created.body.id
      // The webhook, shown once: the project's own URL, and the secret vcs derives for this project's
      // first generation. The URL (never the secret) is shown with the project.
      expect(created.body.webhook).toEqual({
        url: `https://deploy.example.com/v1/webhooks/github/${projectId}`,
        secret: webhookSecret(webhookKey, projectId, 1),
      })
      const shown = (await call('GET', `/projects/${projectId}`)).body
      expect(shown).not.toHaveProperty('webhook')
      expect(shown.webhookUrl).toBe(`https://deploy.example.com/v1/webhooks/github/${projectId}`)
      const rotated = await call('POST', `/projects/${projectId}/webhook/rotate`)
      expect(rotated.body.secret).toBe(webhookSecret(webhookKey, projectId, 2))
      expect((await call('GET', `/projects/${projectId}`)).body.webhookGeneration).toBe(2)
      expect((await call('POST', '/projects', { slug: 'shop', name: 'Again' })).status).toBe(409)
      const changed = await call('PATCH', `/projects/${projectId}`, {
        name: 'The Shop',
        deployBranches: ['main', 'release'],
      })
      expect(changed.body).toMatchObject({ name: 'The Shop', deployBranches: ['main', 'release'] })
      expect((await call('GET', '/projects')).body.items.map((p: { slug: string }) => p.slug)).toEqual([
        'shop',
      ])
      await until(
        () => events.some((e) => (e.data as { changed?: string[] }).changed?.includes('name')),
        10_000,
      )
      expect(events.find((e) => e.type === 'evt.project.created')).toMatchObject({
        data: { projectId, slug: 'shop', repo: 'acme/shop', createdBy: `user:${userId}` },
        actor: `user:${userId}`,
      })
      expect(
        events.find((e) => (e.data as { changed?: string[] }).changed?.includes('name'))?.data,
      ).toMatchObject({
        changed: ['name', 'deployBranches'],
        before: { name: 'Shop', deployBranches: ['main'] },
        after: { name: 'The Shop', deployBranches: ['main', 'release'] },
        updatedBy: `user:${userId}`,
      })
    })

    it('keeps environments in promotion order, and checks their overrides against deploy.yaml', async () => {
      const staging = await call('POST', `/projects/${projectId}/environments`, {
        name: 'staging',
        type: 'staging',
      })
      const production = await call('POST', `/projects/${projectId}/environments`, {
        name: 'production',
        type: 'production',
        overrides: { replicas: 4 },
      })
      expect([staging.status, production.status]).toEqual([201, 201])
      expect(production.body).toMatchObject({ promotionOrder: 1, overrides: { replicas: 4 } })
      const bad = await call('PATCH', `/projects/${projectId}/environments/${production.body.id}`, {
        overrides: { replicas: 'four', image: 'x' },
      })
      expect(bad.status).toBe(422)
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(
        expect.arrayContaining(['/overrides/replicas']),
      )
      expect(
        (await call('GET', `/projects/${projectId}/environments`)).body.items.map(
          (e: { name: string }) => e.name,
        ),
      ).toEqual(['staging', 'production'])
      expect(
        (await call('POST', `/projects/${projectId}/environments`, { name: 'staging', type: 'staging' }))
          .status,
      ).toBe(409)
      const planted = (e: Envelope) =>
        (e.data as { envIds?: string[] }).envIds?.includes(production.body.id) === true
      await until(() => events.some(planted), 10_000)
      expect(events.find(planted)?.data).toMatchObject({
        changed: ['environments'],
        before: { environments: [null] },
        after: {
          environments: [
            { name: 'production', type: 'production', overridesDigest: expect.stringMatching(/^sha256:/) },
          ],
        },
      })
    })

    it('validates without storing, and answers 422 with the path, line and column of every problem', async () => {
      const ok = await call('POST', '/manifests/validate', { yaml: minimal })
      expect(ok.status).toBe(200)
      expect(ok.body.digest).toMatch(/^sha256:/)
      expect((await call('GET', `/manifests/${ok.body.digest}`)).status).toBe(404)
      const bad = await call('POST', '/manifests/validate', {
        yaml: minimal.replace('name: hello', 'name: Hello!'),
      })
      expect(bad.status).toBe(422)
      expect(bad.headers['content-type']).toMatch(/problem\+json/)
      expect(bad.body.errors).toEqual([
        expect.objectContaining({ path: '/metadata/name', line: 4, column: 3 }),
      ])
      const schema = await runtime.app.inject({ url: '/v1/schemas/deploy.json' })
      expect(schema.statusCode).toBe(200)
      expect(schema.json().title).toBe('deploy.yaml v1')
    })

    it('stores a manifest once per digest, keeps the history, and diffs two digests', async () => {
      const first = await call('POST', `/projects/${projectId}/manifests`, {
        yaml: minimal,
        environment: 'staging',
      })
      expect(first.status, JSON.stringify(first.body)).toBe(201)
      expect(first.body.created).toBe(true)
      const reordered = `# same content\nspec:\n  image: ghcr.io/acme/hello:1.0.0\n  replicas: 1\nmetadata: {name: hello}\nkind: Application\napiVersion: rxt-deploy/v1\n`
      const again = await call('POST', `/projects/${projectId}/manifests`, { yaml: reordered })
      expect(again.body).toMatchObject({ digest: first.body.digest, created: false })
      const second = await call('POST', `/projects/${projectId}/manifests`, {
        yaml: full,
        environment: 'production',
      })
      expect(second.body.digest).not.toBe(first.body.digest)
      expect((await call('GET', `/manifests/${first.body.digest}`)).body.manifest.metadata.name).toBe('hello')
      const diff = await call('GET', `/manifests/${first.body.digest}/diff/${second.body.digest}`)
      expect(diff.body.changes).toEqual(
        expect.arrayContaining([
          { path: '/metadata/name', change: 'changed', before: 'hello', after: 'checkout' },
          expect.objectContaining({ path: '/spec/ports', change: 'added' }),
        ]),
      )
      const history = await call('GET', `/projects/${projectId}/manifests`)
      expect(history.body.items.map((h: { environment: string | null }) => h.environment)).toEqual([
        'production',
        null,
        'staging',
      ])
      expect(
        (await call('GET', `/projects/${projectId}/manifests?environment=staging`)).body.items,
      ).toHaveLength(1)
      expect(
        (await call('POST', `/projects/${projectId}/manifests`, { yaml: minimal, environment: 'nope' }))
          .status,
      ).toBe(404)
    })

    it('soft-deletes a project with its environments, restores it within 30 days, and purges it after', async () => {
      expect((await call('DELETE', `/projects/${projectId}`)).status).toBe(204)
      expect((await call('GET', `/projects/${projectId}`)).status).toBe(404)
      expect((await call('GET', `/projects/${projectId}/environments`)).status).toBe(404)
      expect((await call('GET', '/projects?includeDeleted=true')).body.items[0].deletedAt).not.toBeNull()
      const restored = await call('POST', `/projects/${projectId}/restore`)
      expect(restored.status).toBe(200)
      expect((await call('GET', `/projects/${projectId}/environments`)).body.items).toHaveLength(2)
      expect((await call('POST', `/projects/${projectId}/restore`)).status).toBe(409)

      const digest = (await call('GET', `/projects/${projectId}/manifests`)).body.items[0].digest
      expect((await call('DELETE', `/projects/${projectId}`)).status).toBe(204)
      clock.offsetMs = 31 * 86_400_000
      try {
        // 31 days on, the access token has expired too: sign in again.
        const login = await runtime.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: 'reg@example.com', password: 'a long passphrase' },
        })
        auth = `Bearer ${login.json().accessToken}`
        expect((await call('POST', `/projects/${projectId}/restore`)).status).toBe(404)
        // The purge runs hourly; an operator can run it now.
        expect((await call('POST', '/admin/registry/purge')).body).toEqual({ purged: 1 })
      } finally {
        clock.offsetMs = 0
      }
      expect((await call('GET', '/projects?includeDeleted=true')).body.items).toEqual([])
      expect((await call('GET', `/manifests/${digest}`)).status).toBe(404)
    })
  })
}
