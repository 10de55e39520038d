// Who a delivery is for, and what is read of it before that is known. A project's webhook URL names the
// project: its deliveries are checked with its secret alone, whatever other organisations claim the same
// repository, and a claim causes nothing until a ping signed with the project's secret proves it. The
// signature is checked over the bytes as sent before anything parses them, and a body is not even
// read without a signature and a project to check it with.
import { randomBytes, randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import examples from '@octokit/webhooks-examples' with { type: 'json' }
import { sign } from '@octokit/webhooks-methods'
import type { Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { registry } from '@rxt/registry'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vcs } from '../src/index.ts'

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads are deep, and the tests read a few fields
type Payload = Record<string, any>

const example = (event: string, match: (payload: Payload) => boolean = () => true) => {
  const found = (examples as { name: string; examples: Payload[] }[])
    .find((e) => e.name === event)
    ?.examples.find(match)
  if (found === undefined) throw new Error(`no ${event} example`)
  return found
}
const repository = 'Codertocat/Hello-World'
const ofRepository = (payload: Payload, fullName = repository) => ({
  ...payload,
  repository: { ...payload.repository, full_name: fullName },
})
const ping = ofRepository(example('ping'))
const push = example('push', (p) => p.ref === 'refs/heads/master' && p.deleted === false)
const opened = ofRepository(example('pull_request', (p) => p.action === 'opened'))

/** Projects another organisation creates naming the owner's repository: more than any bound on claims. */
const squatters = 50

interface Project {
  readonly id: string
  readonly path: string
  readonly secret: string
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`webhook claims on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let address: string
    const events: Envelope[] = []
    let owner: string
    let squatter: string
    let project: Project
    const claims: Project[] = []

    const createProject = async (auth: string, slug: string, repo = repository): Promise<Project> => {
      const res = await runtime.app.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: { authorization: auth },
        payload: { slug, name: slug, repository: repo, deployBranches: ['master'] },
      })
      if (res.statusCode !== 201) throw new Error(`project ${slug}: ${res.statusCode} ${res.body}`)
      const body = res.json()
      expect(body.webhook.url).toBe(body.webhookUrl)
      return { id: body.id, path: new URL(body.webhook.url).pathname, secret: body.webhook.secret }
    }
    const deliver = async (
      to: Project,
      event: string,
      payload: unknown,
      options: { secret?: string; raw?: string } = {},
    ) => {
      const body = options.raw ?? JSON.stringify({ ...(payload as object), test_nonce: randomUUID() })
      const res = await runtime.app.inject({
        method: 'POST',
        url: to.path,
        headers: {
          'content-type': 'application/json',
          'x-github-event': event,
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': await sign(options.secret ?? to.secret, body),
        },
        payload: body,
      })
      return { status: res.statusCode, body: res.json(), type: res.headers['content-type'] }
    }
    const known = async (auth: string, id: string) =>
      (
        await runtime.app.inject({
          url: `/v1/projects/${id}/webhook/deliveries`,
          headers: { authorization: auth },
        })
      ).statusCode === 200
    const deliveriesOf = async (auth: string, id: string) =>
      (
        await runtime.app.inject({
          url: `/v1/projects/${id}/webhook/deliveries`,
          headers: { authorization: auth },
        })
      ).json().items as { event: string; outcome: string; detail: string }[]
    const eventsOf = (projectId: string, type: string) =>
      events.filter((e) => e.type === type && (e.data as { projectId: string }).projectId === projectId)

    /** Headers, then nothing: what the server answers before a byte of a 20 MB body arrives. */
    const answerWithoutBody = (path: string, headers: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        const { hostname, port } = new URL(address)
        const socket = connect(Number(port), hostname)
        let answer = ''
        socket.on('data', (chunk) => {
          answer += chunk.toString('latin1')
          if (answer.includes('\r\n\r\n')) {
            socket.destroy()
            resolve(answer.slice(0, answer.indexOf('\r\n')))
          }
        })
        socket.on('error', reject)
        socket.on('close', () => resolve(answer.slice(0, answer.indexOf('\r\n'))))
        const lines = Object.entries({
          host: 'localhost',
          'content-type': 'application/json',
          'content-length': String(20 * 1024 * 1024),
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
          ...headers,
        }).map(([name, value]) => `${name}: ${value}`)
        socket.write(`POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`)
      })

    beforeAll(async () => {
      handle = await target.create()
      const watcher = defineContext({
        name: 'watcher',
        handlers: () => [
          {
            id: 'source',
            types: ['evt.repo.verified', 'evt.commit.pushed', 'evt.pr.opened'],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, registry, vcs, watcher],
        database: handle.database,
        env: {
          WEBHOOK_KEY: randomBytes(32).toString('base64url'),
          AUTH_FAILURES_PER_MINUTE: '1000',
          RATE_LIMIT_PER_MINUTE: '100000',
        },
      })
      address = await runtime.listen()
      owner = (await signUp(runtime, 'owner@example.com')).authorization
      squatter = (await signUp(runtime, 'squatter@example.com')).authorization
      project = await createProject(owner, 'hello')
      // vcs learns of the project through the bus; its ping then proves the repository.
      await until(async () => (await deliver(project, 'ping', ping)).status === 202, 10_000, 'the ping')
      // Then another organisation names the same repository, many times over, after the owner did.
      for (let i = 0; i < squatters; i++) claims.push(await createProject(squatter, `squat-${i}`))
      for (const claim of claims) await until(() => known(squatter, claim.id), 10_000, 'vcs knows the claim')
    }, 120_000)
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it(`takes the owner's signed push (202, published) whatever ${squatters} projects of another organisation name the repository`, async () => {
      const pushed = await deliver(project, 'push', push)
      expect(pushed).toMatchObject({ status: 202, body: { outcome: 'published' } })
      await until(() => eventsOf(project.id, 'evt.commit.pushed').length > 0, 10_000)
      expect(eventsOf(project.id, 'evt.commit.pushed')[0]).toMatchObject({
        data: { projectId: project.id, repo: repository, commitSha: push.after },
      })
    })

    it("keeps an unverified claim's pushes as ignored deliveries, publishing nothing", async () => {
      const [claim] = claims as [Project]
      const pushed = await deliver(claim, 'push', push)
      expect(pushed).toMatchObject({
        status: 202,
        body: { outcome: 'ignored', detail: expect.stringContaining('not verified') },
      })
      const opening = await deliver(claim, 'pull_request', opened)
      expect(opening.body.outcome).toBe('ignored')
      // The outcome is written in the transaction its events would be: an ignored delivery has none.
      expect((await deliveriesOf(squatter, claim.id)).map((d) => d.outcome)).toEqual(['ignored', 'ignored'])
      // A later delivery's events arrive; none of the claim's ever do.
      expect((await deliver(project, 'push', push)).body.outcome).toBe('published')
      await until(() => eventsOf(project.id, 'evt.commit.pushed').length >= 2, 10_000)
      expect(eventsOf(claim.id, 'evt.commit.pushed')).toEqual([])
      expect(eventsOf(claim.id, 'evt.pr.opened')).toEqual([])
    })

    it("refuses a delivery signed with another project's secret (401), and a ping of another repository verifies nothing", async () => {
      const [first, second] = claims as [Project, Project]
      expect((await deliver(project, 'push', push, { secret: first.secret })).status).toBe(401)
      expect((await deliver(first, 'push', push, { secret: project.secret })).status).toBe(401)
      const elsewhere = await deliver(second, 'ping', ofRepository(ping, 'someone/else'))
      expect(elsewhere.body).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('someone/else'),
      })
      expect((await deliver(second, 'push', push)).body.detail).toContain('not verified')
      expect(eventsOf(second.id, 'evt.repo.verified')).toEqual([])
    })

    it('leaves a project unverified when its repository changes, until the new repository pings', async () => {
      const moved = await createProject(owner, 'moved')
      await until(async () => (await deliver(moved, 'ping', ping)).status === 202, 10_000, 'the ping')
      expect((await deliver(moved, 'push', push)).body.outcome).toBe('published')
      const patched = await runtime.app.inject({
        method: 'PATCH',
        url: `/v1/projects/${moved.id}`,
        headers: { authorization: owner },
        payload: { repository: 'codertocat/elsewhere' },
      })
      expect(patched.json().repositoryVerifiedAt).toBeNull()
      const elsewhere = ofRepository(push, 'codertocat/elsewhere')
      // vcs learns of the change through the bus: the new repository's pushes are then ignored.
      await until(
        async () => (await deliver(moved, 'push', elsewhere)).body.detail?.includes('not verified'),
        10_000,
      )
      expect((await deliver(moved, 'push', push)).body.outcome).toBe('ignored')
      expect((await deliver(moved, 'ping', ofRepository(ping, 'codertocat/elsewhere'))).body.outcome).toBe(
        'published',
      )
      expect((await deliver(moved, 'push', elsewhere)).body.outcome).toBe('published')
    })

    it('checks the signature before parsing: a wrongly signed body that is not JSON is 401, a signed one 400', async () => {
      const wrong = await deliver(project, 'push', undefined, { raw: '{not json', secret: 'not the secret' })
      expect(wrong.status).toBe(401)
      expect(wrong.type).toMatch(/^application\/problem\+json/)
      const signed = await deliver(project, 'push', undefined, { raw: '{not json' })
      expect(signed.status).toBe(400)
      expect(signed.body.detail).toContain('not a JSON payload')
    })

    it('keeps a signed payload with a NUL character as a failed delivery, not a server error', async () => {
      const nul = { ...push, head_commit: { ...push.head_commit, message: 'fix\u0000 it' } }
      const answer = await deliver(project, 'push', nul)
      expect(answer).toMatchObject({
        status: 202,
        body: { outcome: 'failed', detail: expect.stringContaining('NUL character') },
      })
      // A backslash and "u0000" written in a message are text, not a NUL.
      const written = { ...push, head_commit: { ...push.head_commit, message: 'JSON writes NUL as \\u0000' } }
      expect((await deliver(project, 'push', written)).body.outcome).toBe('published')
    })

    it('answers an unsigned delivery, or one to no project, before its body is sent', async () => {
      expect(await answerWithoutBody(project.path, {})).toMatch(/^HTTP\/1\.1 401/)
      const signature = await sign('any secret', 'anything')
      expect(
        await answerWithoutBody(`/v1/webhooks/github/${randomUUID()}`, { 'x-hub-signature-256': signature }),
      ).toMatch(/^HTTP\/1\.1 401/)
      expect(await answerWithoutBody(project.path, { 'x-hub-signature-256': 'sha256=not-hex' })).toMatch(
        /^HTTP\/1\.1 401/,
      )
      // Larger than GitHub ever sends: refused for its declared size.
      expect(
        await answerWithoutBody(project.path, {
          'x-hub-signature-256': signature,
          'content-length': String(26 * 1024 * 1024),
        }),
      ).toMatch(/^HTTP\/1\.1 413/)
    })

    it('answers the retired shared URL with where deliveries go now, reading nothing', async () => {
      const res = await runtime.app.inject({
        method: 'POST',
        url: '/v1/webhooks/github',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
        payload: '{not json',
      })
      expect(res.statusCode).toBe(404)
      expect(res.json().detail).toContain('/v1/webhooks/github/<project id>')
    })

    it.each([
      ['javascript:alert(1)'],
      ['data:text/html,<script>alert(1)</script>'],
      ['http://github.com/codertocat/hello-world/pull/2'],
    ])('keeps a pull request whose page is %s as a failed delivery, with no event', async (url) => {
      const odd = { ...opened, pull_request: { ...opened.pull_request, html_url: url } }
      const answer = await deliver(project, 'pull_request', odd)
      expect(answer.body).toEqual({
        outcome: 'failed',
        detail: 'the payload could not be read: pull_request.html_url must be an https URL',
      })
      expect((await deliver(project, 'pull_request', opened)).body.outcome).toBe('published')
      await until(() => eventsOf(project.id, 'evt.pr.opened').length > 0, 10_000)
      expect(eventsOf(project.id, 'evt.pr.opened').map((e) => (e.data as { url: string }).url)).not.toContain(
        url,
      )
    })
  })
}
