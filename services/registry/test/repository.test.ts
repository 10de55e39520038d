// A project's repository: written as owner/name or as its GitHub URL, kept as owner/name; anything else,
// and the read-only repositoryUrl, answered with one problem that says what to write.
import { randomBytes } from 'node:crypto'
import type { Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registry } from '../src/index.ts'

const whatToWrite = 'must be owner/name or https://github.com/owner/name'

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`a project's repository on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let auth: string
    const events: Envelope[] = []
    let slugs = 0

    const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) => {
      const res = await runtime.app.inject({
        method,
        url: `/v1${url}`,
        headers: { authorization: auth },
        ...(payload === undefined ? {} : { payload }),
      })
      return { status: res.statusCode, body: res.json(), type: res.headers['content-type'] }
    }
    const create = (fields: object) =>
      call('POST', '/projects', { slug: `p${++slugs}`, name: 'P', ...fields })
    const projectCount = async () => (await call('GET', '/projects')).body.items.length

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
        env: { WEBHOOK_KEY: randomBytes(32).toString('base64url') },
      })
      auth = (await signUp(runtime, 'repo@example.com')).authorization
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it.each([
      'acme/shop',
      'https://github.com/acme/shop',
      'https://github.com/acme/shop.git',
      'https://github.com/acme/shop/',
      'https://github.com/acme/shop.git/',
      'HTTPS://GitHub.com/acme/shop',
    ])('keeps %s as acme/shop, and announces it so', async (written) => {
      const created = await create({ repository: written })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      expect(created.body).toMatchObject({
        repository: 'acme/shop',
        repositoryUrl: 'https://github.com/acme/shop',
      })
      const id = created.body.id
      await until(() => events.some((e) => (e.data as { projectId: string }).projectId === id), 10_000)
      expect(events.find((e) => (e.data as { projectId: string }).projectId === id)?.data).toMatchObject({
        repo: 'acme/shop',
      })
    })

    it('keeps no repository as null', async () => {
      expect((await create({ repository: null })).body).toMatchObject({
        repository: null,
        repositoryUrl: null,
      })
      expect((await create({})).body).toMatchObject({ repository: null, repositoryUrl: null })
    })

    it.each([
      'http://github.com/acme/shop',
      'https://gitlab.com/acme/shop',
      'https://github.com/acme',
      'https://github.com/acme/shop/tree/main',
      'https://github.com/acme/shop?tab=readme',
      'https://ada@github.com/acme/shop',
      'https://github.com:8443/acme/shop',
      'git@github.com:acme/shop.git',
      'github.com/acme/shop',
      'acme/../shop',
      'acme',
      'javascript:alert(1)',
      'javascript://github.com/acme/shop',
      'data:text/html,acme/shop',
      'file:///acme/shop',
    ])('refuses %s with one problem that says what to write', async (written) => {
      const before = await projectCount()
      const refused = await create({ repository: written })
      expect(refused.status).toBe(400)
      expect(refused.type).toMatch(/^application\/problem\+json/)
      expect(refused.body.errors).toEqual([{ path: '/body/repository', message: whatToWrite }])
      expect(refused.body.detail).toContain('https://github.com/owner/name')
      expect(await projectCount()).toBe(before)
    })

    it('refuses repositoryUrl with one problem naming repository, creating nothing', async () => {
      const before = await projectCount()
      const refused = await create({ repositoryUrl: 'https://github.com/acme/shop' })
      expect(refused.status).toBe(400)
      expect(refused.body.errors).toEqual([
        {
          path: '/body/repositoryUrl',
          message: 'is read-only: write the repository in repository, as owner/name or its GitHub URL',
        },
      ])
      expect(await projectCount()).toBe(before)
      const script = await create({ repositoryUrl: 'javascript:alert(1)' })
      expect(script.status).toBe(400)
      expect(script.body.errors.map((e: { path: string }) => e.path)).toEqual(['/body/repositoryUrl'])
      const both = await create({ repository: 'acme/shop', repositoryUrl: 'https://github.com/acme/shop' })
      expect(both.status).toBe(400)
      expect(both.body.errors.map((e: { path: string }) => e.path)).toEqual(['/body/repositoryUrl'])
    })

    it('changes the repository by its URL, and refuses repositoryUrl and other URLs on a change', async () => {
      const { id } = (await create({ repository: 'acme/old' })).body
      const changed = await call('PATCH', `/projects/${id}`, {
        repository: 'https://github.com/acme/new.git',
      })
      expect(changed.status, JSON.stringify(changed.body)).toBe(200)
      expect(changed.body).toMatchObject({
        repository: 'acme/new',
        repositoryUrl: 'https://github.com/acme/new',
      })
      const updated = (e: Envelope) =>
        e.type === 'evt.project.updated' && (e.data as { projectId: string }).projectId === id
      await until(() => events.some(updated), 10_000)
      expect(events.find(updated)?.data).toMatchObject({
        changed: ['repository'],
        before: { repository: 'acme/old' },
        after: { repository: 'acme/new' },
      })
      const url = await call('PATCH', `/projects/${id}`, { repositoryUrl: 'https://github.com/acme/other' })
      expect(url.status).toBe(400)
      expect(url.body.errors.map((e: { path: string }) => e.path)).toEqual(['/body/repositoryUrl'])
      const other = await call('PATCH', `/projects/${id}`, { repository: 'https://gitlab.com/acme/other' })
      expect(other.body.errors).toEqual([{ path: '/body/repository', message: whatToWrite }])
      expect((await call('GET', `/projects/${id}`)).body.repository).toBe('acme/new')
    })
  })
}
