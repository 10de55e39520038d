import { randomBytes, randomUUID } from 'node:crypto'
import examples from '@octokit/webhooks-examples' with { type: 'json' }
import { sign, verify } from '@octokit/webhooks-methods'
import type { Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { defineContext, loadMigrations, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { registry } from '@rxt/registry'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vcs } from '../src/index.ts'

/** A GitHub payload, read field by field. */
// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads are deep, and the tests read a few fields
type Payload = Record<string, any>

/** GitHub's own payloads (the @octokit/webhooks-examples corpus), by event name. */
const example = (event: string, match: (payload: Payload) => boolean = () => true) => {
  const found = (examples as { name: string; examples: Payload[] }[])
    .find((e) => e.name === event)
    ?.examples.find(match)
  if (found === undefined) throw new Error(`no ${event} example`)
  return found
}
const repository = 'Codertocat/Hello-World'
const pushToMaster = example('push', (p) => p.ref === 'refs/heads/master' && p.deleted === false)
const pushTag = example('push', (p) => p.ref.startsWith('refs/tags/') && p.deleted === false)
const ping = { ...example('ping'), repository: { ...example('ping').repository, full_name: repository } }
const pr = (action: string) => example('pull_request', (p) => p.action === action)

describe('signatures', () => {
  it("verifies GitHub's documented test vector", async () => {
    const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
    expect(await verify("It's a Secret to Everybody", 'Hello, World!', signature)).toBe(true)
    expect(await verify("It's a Secret to Everybody", 'Hello, World?', signature)).toBe(false)
  })
})

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`vcs on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    const events: Envelope[] = []
    let auth: string
    let projectId: string
    let secret: string
    /** The project's own webhook URL (its path). */
    let webhookPath: string

    const deliver = async (
      event: string,
      payload: unknown,
      options: {
        secret?: string
        deliveryId?: string
        form?: boolean
        signature?: string | null
        /** GitHub's payloads differ from push to push; the test's reused ones get a nonce to differ too. */
        nonce?: string
      } = {},
    ) => {
      const json = JSON.stringify({ ...(payload as object), test_nonce: options.nonce ?? randomUUID() })
      const body = options.form === true ? `payload=${encodeURIComponent(json)}` : json
      const signature =
        options.signature === null
          ? undefined
          : (options.signature ?? (await sign(options.secret ?? secret, body)))
      const res = await runtime.app.inject({
        method: 'POST',
        url: webhookPath,
        headers: {
          'content-type': options.form === true ? 'application/x-www-form-urlencoded' : 'application/json',
          'x-github-event': event,
          'x-github-delivery': options.deliveryId ?? randomUUID(),
          ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
        },
        payload: body,
      })
      return { status: res.statusCode, body: res.json() }
    }
    const deliveries = async () =>
      (
        await runtime.app.inject({
          url: `/v1/projects/${projectId}/webhook/deliveries`,
          headers: { authorization: auth },
        })
      ).json().items as { deliveryId: string; event: string; outcome: string; detail: string }[]
    const ofType = (type: string) => events.filter((e) => e.type === type)

    beforeAll(async () => {
      handle = await target.create()
      const watcher = defineContext({
        name: 'watcher',
        handlers: () => [
          {
            id: 'source',
            types: [
              'evt.repo.verified',
              'evt.commit.pushed',
              'evt.branch.deleted',
              'evt.pr.opened',
              'evt.pr.synchronized',
              'evt.pr.closed',
              'evt.image.published',
              'evt.ci.failed',
              'evt.request.audited',
            ],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, registry, vcs, watcher],
        database: handle.database,
        env: { WEBHOOK_KEY: randomBytes(32).toString('base64url'), AUTH_FAILURES_PER_MINUTE: '1000' },
      })
      auth = (await signUp(runtime, 'vcs@example.com')).authorization
      const project = await runtime.app.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: { authorization: auth },
        payload: { slug: 'hello', name: 'Hello', repository, deployBranches: ['master'] },
      })
      projectId = project.json().id
      secret = project.json().webhook.secret
      webhookPath = new URL(project.json().webhook.url).pathname
      // vcs learns of the project through the bus: a ping succeeds once it has.
      await until(async () => (await deliver('ping', ping)).status === 202, 10_000, 'vcs knows the project')
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it("accepts a delivery signed with the project's secret, and says so with evt.repo.verified on a ping", async () => {
      await until(() => ofType('evt.repo.verified').length > 0, 10_000)
      expect(ofType('evt.repo.verified')[0]).toMatchObject({
        tenantId: expect.any(String),
        actor: 'service:vcs',
        data: { projectId, provider: 'github', repo: repository },
      })
      // The registry records that the repository reaches the project.
      const project = async () =>
        (
          await runtime.app.inject({ url: `/v1/projects/${projectId}`, headers: { authorization: auth } })
        ).json()
      await until(async () => (await project()).repositoryVerifiedAt !== null, 10_000)
    })

    it('turns a push to a deploy branch into evt.commit.pushed, JSON or form-encoded, once per delivery id', async () => {
      const deliveryId = randomUUID()
      const first = await deliver('push', pushToMaster, { deliveryId, nonce: 'once' })
      expect(first).toEqual({
        status: 202,
        body: { outcome: 'published', detail: expect.stringContaining('master') },
      })
      expect((await deliver('push', pushToMaster, { deliveryId })).status).toBe(200)
      // The same signed bytes under a new delivery id are a replay, not a new push.
      expect((await deliver('push', pushToMaster, { nonce: 'once' })).status).toBe(200)
      expect((await deliver('push', pushToMaster, { form: true })).status).toBe(202)
      await until(() => ofType('evt.commit.pushed').length >= 2, 10_000)
      const pushed = ofType('evt.commit.pushed').filter(
        (e) => (e.data as { deliveryId: string }).deliveryId === deliveryId,
      )
      expect(pushed).toHaveLength(1)
      expect(pushed[0]?.data).toMatchObject({
        projectId,
        repo: repository,
        ref: 'refs/heads/master',
        commitSha: pushToMaster.after,
        pusher: 'Codertocat',
      })
    })

    it('keeps a tag push and other branches as ignored deliveries, with no event', async () => {
      const before = ofType('evt.commit.pushed').length
      expect((await deliver('push', pushTag)).body.outcome).toBe('ignored')
      expect((await deliver('push', { ...pushToMaster, ref: 'refs/heads/feature' })).body).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('not a deploy branch'),
      })
      expect(
        (await deliver('workflow_run', { ...example('workflow_run'), repository: { full_name: repository } }))
          .body,
      ).toMatchObject({ outcome: 'ignored' })
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(ofType('evt.commit.pushed')).toHaveLength(before)
    })

    it('deploys tags and reports deleted branches once the project asks for it', async () => {
      const deletion = { ...pushToMaster, ref: 'refs/heads/feature', deleted: true, after: '0'.repeat(40) }
      const changed = await runtime.app.inject({
        method: 'PATCH',
        url: `/v1/projects/${projectId}`,
        headers: { authorization: auth },
        payload: { deployTags: true, reportBranchDeletions: true },
      })
      expect(changed.json()).toMatchObject({ deployTags: true, reportBranchDeletions: true })
      // vcs learns of it through the bus: the tag push is published once it has.
      await until(async () => (await deliver('push', pushTag)).body.outcome === 'published', 10_000)
      expect((await deliver('push', deletion)).body.outcome).toBe('published')
      await until(() => ofType('evt.branch.deleted').length > 0, 10_000)
      expect(ofType('evt.branch.deleted')[0]?.data).toMatchObject({ projectId, ref: 'refs/heads/feature' })
      expect(ofType('evt.commit.pushed').some((e) => (e.data as { ref: string }).ref === pushTag.ref)).toBe(
        true,
      )
    })

    it("turns the project's CI workflow runs and the registry's images into evt.image.published", async () => {
      const completed = example('workflow_run', (p) => p.workflow_run.conclusion === 'success')
      const run = (conclusion: string, path = '.github/workflows/build.yml') => ({
        ...completed,
        repository: { full_name: repository },
        workflow_run: { ...completed.workflow_run, path, conclusion },
      })
      const image = 'ghcr.io/codertocat/hello-world'
      expect((await deliver('workflow_run', run('success'))).body).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('names no CI workflow'),
      })
      const patch = (ci: unknown) =>
        runtime.app.inject({
          method: 'PATCH',
          url: `/v1/projects/${projectId}`,
          headers: { authorization: auth },
          payload: { ci },
        })
      const refused = await patch({ workflow: 'build.yml', image: 'GHCR.io/Codertocat/Hello-World:latest' })
      expect(refused.statusCode).toBe(400)
      expect(refused.json().detail).toContain('/ci/image')
      expect((await patch({ workflow: 'build.yml', image })).json().ci).toEqual({
        workflow: 'build.yml',
        image,
      })
      // vcs learns of it through the bus.
      await until(
        async () => (await deliver('workflow_run', run('success'))).body.outcome === 'published',
        10_000,
      )
      expect(
        (await deliver('workflow_run', run('success', '.github/workflows/test.yml'))).body,
      ).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining("not the project's CI workflow"),
      })
      expect((await deliver('workflow_run', run('cancelled'))).body.outcome).toBe('published')
      await until(() => ofType('evt.ci.failed').length > 0, 10_000)
      const sha = completed.workflow_run.head_sha
      expect(ofType('evt.ci.failed')[0]?.data).toMatchObject({
        projectId,
        workflow: '.github/workflows/build.yml',
        commitSha: sha,
        conclusion: 'cancelled',
      })

      // GitHub's container package, as `package` and under its older name `registry_package`.
      const container = example('package', (p) =>
        p.package.package_version?.package_url?.startsWith('ghcr.io'),
      )
      const published = { ...container, repository: { full_name: repository } }
      expect((await deliver('package', published)).body.outcome).toBe('published')
      const legacy = { ...published, registry_package: published.package, package: undefined }
      expect((await deliver('registry_package', legacy)).body.outcome).toBe('published')
      const npm = example('package', (p) => p.package.registry.type === 'npm')
      expect(
        (await deliver('package', { ...npm, repository: { full_name: repository } })).body,
      ).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('not an image'),
      })
      const elsewhere = structuredClone(published)
      elsewhere.package.package_version.package_url = 'ghcr.io/someone/else:1.0'
      expect((await deliver('package', elsewhere)).body).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining("not the project's image"),
      })

      await until(() => ofType('evt.image.published').length >= 3, 10_000)
      const [built, pushed] = ofType('evt.image.published').map((e) => e.data)
      expect(built).toMatchObject({
        source: 'workflow_run',
        image: `${image}:${sha}`,
        tag: sha,
        digest: null,
        commitSha: sha,
        url: completed.workflow_run.html_url,
      })
      const version = container.package.package_version
      expect(pushed).toMatchObject({
        source: 'package',
        image: `${image}@${version.version}`,
        repository: image,
        digest: version.version,
        commitSha: version.target_oid,
      })
      // Turn it off again: runs are ignored once vcs knows.
      expect((await patch(null)).json().ci).toBeNull()
      await until(
        async () => (await deliver('workflow_run', run('success'))).body.outcome === 'ignored',
        10_000,
      )
    })

    it('refuses a missing or wrong signature with 401, storing nothing; keeps another repository as ignored', async () => {
      const before = (await deliveries()).length
      expect((await deliver('push', pushToMaster, { signature: null })).status).toBe(401)
      expect((await deliver('push', pushToMaster, { secret: 'not the secret' })).status).toBe(401)
      expect(await deliveries()).toHaveLength(before)
      const elsewhere = {
        ...pushToMaster,
        repository: { ...pushToMaster.repository, full_name: 'someone/else' },
      }
      expect((await deliver('push', elsewhere)).body).toEqual({
        outcome: 'ignored',
        detail: "the delivery is from someone/else; this project's repository is codertocat/hello-world",
      })
      expect((await deliver('push', { repository: { full_name: { toString: 1 } } })).body).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('from no repository'),
      })
      expect(await deliveries()).toHaveLength(before + 2)
    })

    it('keeps a signed payload of an unexpected shape as a failed delivery, not a server error', async () => {
      const odd = await deliver('push', { ...pushToMaster, pusher: { name: { toString: 1 } } })
      expect(odd).toEqual({
        status: 202,
        body: { outcome: 'failed', detail: expect.stringContaining('could not be read') },
      })
      const badSha = await deliver('push', { ...pushToMaster, after: 'not a sha' })
      expect(badSha.body.outcome).toBe('failed')
    })

    it('stores deliveries arriving together in one transaction, each with its own answer, event and audit record', async () => {
      const pushOf = (n: number) => ({ ...pushToMaster, after: n.toString(16).padStart(40, 'c') })
      const twice = randomUUID()
      const sent = [
        ...[1, 2, 3, 4, 5, 6].map((n) => ({ payload: pushOf(n), deliveryId: randomUUID() })),
        // The same delivery twice at once: one is stored and published, the other is its duplicate.
        { payload: pushOf(7), deliveryId: twice, nonce: 'twice' },
        { payload: pushOf(7), deliveryId: twice, nonce: 'twice' },
        // Signed, but its event breaks its schema: kept as failed, the others publish theirs.
        { payload: { ...pushToMaster, after: 'not a sha' }, deliveryId: randomUUID() },
        // Not signed by the project: refused before it reaches a batch.
        { payload: pushOf(8), deliveryId: randomUUID(), secret: 'not the secret' },
      ]
      // Deliveries are held while they arrive (the table locked: on PGlite, the one connection), so that
      // they meet in the commit queue, as many do at once under load.
      const vcsDb = await handle.database.openContext(
        'vcs',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
      )
      let release = () => {}
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      let locked = () => {}
      const lockTaken = new Promise<void>((resolve) => {
        locked = resolve
      })
      const lock = vcsDb.transaction(async (tx) => {
        await tx.query('LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE')
        locked()
        await held
      })
      await lockTaken
      setTimeout(release, 300)
      const answering = Promise.all(
        sent.map(async (d) => {
          const json = JSON.stringify({ ...d.payload, test_nonce: d.nonce ?? randomUUID() })
          const res = await runtime.app.inject({
            method: 'POST',
            url: webhookPath,
            headers: {
              'content-type': 'application/json',
              'x-github-event': 'push',
              'x-github-delivery': d.deliveryId,
              'x-hub-signature-256': await sign(d.secret ?? secret, json),
            },
            payload: json,
          })
          return { status: res.statusCode, body: res.json(), requestId: String(res.headers['x-request-id']) }
        }),
      )
      await lock
      const answers = await answering
      for (const answer of answers.slice(0, 6))
        expect(answer).toMatchObject({ status: 202, body: { outcome: 'published' } })
      expect(
        answers
          .slice(6, 8)
          .map((a) => a.status)
          .sort(),
      ).toEqual([200, 202])
      expect(answers[8]).toMatchObject({
        status: 202,
        body: { outcome: 'failed', detail: expect.stringContaining('commitSha') },
      })
      expect(answers[9]?.status).toBe(401)

      // Each published delivery's event once, caused by its own request.
      const published = [...sent.slice(0, 7)]
      await until(
        () =>
          published.every((d) =>
            ofType('evt.commit.pushed').some(
              (e) => (e.data as { deliveryId: string }).deliveryId === d.deliveryId,
            ),
          ),
        10_000,
      )
      for (const [i, d] of published.entries()) {
        const pushed = ofType('evt.commit.pushed').filter(
          (e) => (e.data as { deliveryId: string }).deliveryId === d.deliveryId,
        )
        expect(pushed).toHaveLength(1)
        expect(pushed[0]?.data).toMatchObject({ commitSha: d.payload.after })
        const caller = i < 6 ? answers[i] : answers.slice(6, 8).find((a) => a.status === 202)
        expect(pushed[0]?.correlationId).toBe(caller?.requestId)
      }
      const failedId = sent[8]?.deliveryId
      expect(
        ofType('evt.commit.pushed').filter((e) => (e.data as { deliveryId: string }).deliveryId === failedId),
      ).toEqual([])

      // Every request its audit record, once, with the status it was answered.
      await until(
        () =>
          answers.every((a) =>
            ofType('evt.request.audited').some(
              (e) => (e.data as { requestId: string }).requestId === a.requestId,
            ),
          ),
        10_000,
      )
      for (const answer of answers) {
        const records = ofType('evt.request.audited').filter(
          (e) => (e.data as { requestId: string }).requestId === answer.requestId,
        )
        expect(records).toHaveLength(1)
        expect(records[0]?.correlationId).toBe(answer.requestId)
        expect(records[0]?.data).toMatchObject({
          action: 'POST /v1/webhooks/github/:projectId',
          context: 'vcs',
          outcome: { status: answer.status, problem: answer.status === 401 ? expect.any(String) : null },
        })
      }

      // Stored as answered.
      const stored = (await deliveries()).filter((d) => sent.some((s) => s.deliveryId === d.deliveryId))
      expect(stored).toHaveLength(8)
      expect(stored.find((d) => d.deliveryId === failedId)).toMatchObject({
        outcome: 'failed',
        detail: expect.stringContaining('commitSha'),
      })
      // The transaction that wrote each row (xmin): some of them were written together.
      const orgId = ofType('evt.repo.verified')[0]?.tenantId as string
      const writers = await vcsDb.withTenant(orgId, (tx) =>
        tx.query<{ writer: string }>(
          'SELECT xmin::text AS writer FROM deliveries WHERE delivery_id = ANY($1)',
          [sent.map((d) => d.deliveryId)],
        ),
      )
      expect(writers.rows).toHaveLength(8)
      expect(new Set(writers.rows.map((r) => r.writer)).size).toBeLessThan(8)
    })

    it('turns pull requests opened, synchronised and closed into their events', async () => {
      for (const action of ['opened', 'synchronize', 'closed']) {
        const payload = { ...pr(action), repository: { ...pr(action).repository, full_name: repository } }
        expect((await deliver('pull_request', payload)).status).toBe(202)
      }
      await until(() => ofType('evt.pr.closed').length > 0, 10_000)
      expect(ofType('evt.pr.opened')[0]?.data).toMatchObject({ projectId, number: expect.any(Number) })
      expect(ofType('evt.pr.synchronized')).toHaveLength(1)
      expect(ofType('evt.pr.closed')[0]?.data).toMatchObject({ merged: expect.any(Boolean) })
    })

    it('lists the deliveries with their outcome, newest first, and keeps the newest 1,000', async () => {
      const list = await deliveries()
      expect(list[0]).toMatchObject({ event: 'pull_request', outcome: 'published' })
      expect(list.map((d) => d.outcome)).toEqual(expect.arrayContaining(['published', 'ignored']))
      // 1,000 newer deliveries, written directly, then the prune (every 10 minutes; an operator can run
      // it now): only the newest 1,000 remain.
      const orgId = ofType('evt.repo.verified')[0]?.tenantId as string
      const db = await handle.database.openContext(
        'vcs',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
      )
      await db.withTenant(orgId, (tx) =>
        tx.query(
          `INSERT INTO deliveries (id, org_id, project_id, delivery_id, body_digest, event, outcome, detail, received_at)
           SELECT gen_random_uuid(), $1, $2, 'bulk-' || n, 'bulk-' || n, 'push', 'ignored', 'bulk', now() + make_interval(secs => n)
             FROM generate_series(1, 1000) n`,
          [orgId, projectId],
        ),
      )
      const pruned = await runtime.app.inject({
        method: 'POST',
        url: '/v1/admin/vcs/prune',
        headers: { authorization: auth },
      })
      expect(pruned.json()).toEqual({ removed: list.length })
      const kept = await deliveries()
      expect(kept).toHaveLength(1000)
      expect(kept.every((d) => d.deliveryId.startsWith('bulk-'))).toBe(true)
    })

    it('stops accepting the old secret once the webhook is rotated', async () => {
      const rotated = await runtime.app.inject({
        method: 'POST',
        url: `/v1/projects/${projectId}/webhook/rotate`,
        headers: { authorization: auth },
      })
      const fresh = rotated.json().secret as string
      await until(async () => (await deliver('ping', ping, { secret: fresh })).status === 202, 10_000)
      expect((await deliver('ping', ping)).status).toBe(401)
    })
  })
}
