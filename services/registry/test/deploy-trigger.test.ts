// The registry's deploy trigger: an image CI published for a deploy branch's commit sends cmd.deploy.apply
// for each environment with a manifest of its own (not a preview one); another branch, or an image whose
// commit is unknown, sends nothing.
import { randomBytes } from 'node:crypto'
import { catalog, type Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registry } from '../src/index.ts'

const [pglite] = dbTargets()
const fixture = catalog.messages.get('evt.image.published')?.fixture as Record<string, unknown>
const pushFixture = catalog.messages.get('evt.commit.pushed')?.fixture as Record<string, unknown>

describe.skipIf(pglite?.skipped !== undefined)('the registry turns a published image into deploys', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let driver: ContextDeps<unknown>
  let owner: { authorization: string; orgId: string }
  const commands: Envelope[] = []
  const call = async (method: string, url: string, payload?: unknown) => {
    const res = await runtime.app.inject({
      method: method as 'GET',
      url: `/v1${url}`,
      headers: { authorization: owner.authorization },
      ...(payload === undefined ? {} : { payload: payload as object }),
    })
    return res.json()
  }

  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
    const watcher = defineContext({
      name: 'watcher',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        { id: 'deploys', types: ['cmd.deploy.apply'], handle: async (m) => void commands.push(m) },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, registry, watcher],
      database: handle.database,
      env: { WEBHOOK_KEY: randomBytes(32).toString('base64url') },
    })
    owner = await signUp(runtime, 'trigger@example.com')
  })
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  it('deploys each environment with a manifest of its own on a deploy branch, and nothing else', async () => {
    const project = await call('POST', '/projects', { slug: 'shop', name: 'Shop', deployBranches: ['main'] })
    const envs: Record<string, string> = {}
    for (const [name, type] of [
      ['staging', 'staging'],
      ['production', 'production'],
      ['pr-7', 'preview'],
    ] as const)
      envs[name] = (await call('POST', `/projects/${project.id}/environments`, { name, type })).id
    await call('PATCH', `/projects/${project.id}/environments/${envs.staging}`, {
      overrides: { replicas: 2 },
    })
    const yaml = (image: string) =>
      `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: shop}\nspec: {image: "${image}"}\n`
    const staging = await call('POST', `/projects/${project.id}/manifests`, {
      yaml: yaml('ghcr.io/acme/shop:1'),
      environment: 'staging',
    })
    await call('POST', `/projects/${project.id}/manifests`, {
      yaml: yaml('ghcr.io/acme/shop:2'),
      environment: 'pr-7',
    })
    // production has no manifest of its own: it is not deployed.
    const image = (branch: string | null, commitSha: string | null) => ({
      ...fixture,
      projectId: project.id,
      deliveryId: randomBytes(8).toString('hex'),
      image: `ghcr.io/acme/shop:${commitSha?.slice(0, 7) ?? 'latest'}`,
      tag: null,
      digest: null,
      commitSha,
      branch,
    })
    // Published in this order on one key: the last one's command comes after whatever the others caused.
    await driver.db.transaction((tx) =>
      driver.bus.publishAll(tx, [
        { type: 'evt.image.published', tenantId: owner.orgId, data: image('feature', 'f'.repeat(40)) },
        { type: 'evt.image.published', tenantId: owner.orgId, data: image('main', null) },
        { type: 'evt.image.published', tenantId: owner.orgId, data: image('main', 'a'.repeat(40)) },
      ]),
    )
    await until(() => commands.length > 0, 15_000, 'cmd.deploy.apply')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(commands).toHaveLength(1)
    expect(commands[0]?.tenantId).toBe(owner.orgId)
    expect(commands[0]?.data).toMatchObject({
      envId: envs.staging,
      projectId: project.id,
      environment: 'staging',
      commitSha: 'a'.repeat(40),
      artifactRef: 'ghcr.io/acme/shop:aaaaaaa',
      manifestDigest: staging.digest,
      overrides: '{"replicas":2}',
    })
    expect(JSON.parse((commands[0]?.data as { manifest: string }).manifest)).toMatchObject({
      spec: { image: 'ghcr.io/acme/shop:1' },
    })
  })

  it('deploys the image its manifests name on a push, for a project that builds none', async () => {
    commands.length = 0
    const yaml = (environment: string) =>
      `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: web}\nspec: {image: "nginx:${environment === 'production' ? '1.26' : '1.27'}"}\n`
    const project = async (slug: string, ci?: object) => {
      const created = await call('POST', '/projects', {
        slug,
        name: slug,
        deployBranches: ['main'],
        ...(ci === undefined ? {} : { ci }),
      })
      const envs: Record<string, string> = {}
      for (const name of ['staging', 'production'] as const) {
        envs[name] = (await call('POST', `/projects/${created.id}/environments`, { name, type: name })).id
        await call('POST', `/projects/${created.id}/manifests`, { yaml: yaml(name), environment: name })
      }
      return { id: created.id as string, envs }
    }
    const fixed = await project('fixed')
    const built = await project('built', { workflow: 'build.yml', image: 'ghcr.io/acme/built' })
    const push = (projectId: string, ref: string, commitSha: string) => ({
      ...pushFixture,
      projectId,
      deliveryId: randomBytes(8).toString('hex'),
      ref,
      commitSha,
    })
    await driver.db.transaction((tx) =>
      driver.bus.publishAll(tx, [
        {
          type: 'evt.commit.pushed',
          tenantId: owner.orgId,
          data: push(fixed.id, 'refs/heads/feature', 'e'.repeat(40)),
        },
        {
          type: 'evt.commit.pushed',
          tenantId: owner.orgId,
          data: push(fixed.id, 'refs/tags/main', 'd'.repeat(40)),
        },
        {
          type: 'evt.commit.pushed',
          tenantId: owner.orgId,
          data: push(built.id, 'refs/heads/main', 'c'.repeat(40)),
        },
        {
          type: 'evt.commit.pushed',
          tenantId: owner.orgId,
          data: push(fixed.id, 'refs/heads/main', 'b'.repeat(40)),
        },
      ]),
    )
    await until(() => commands.length >= 2, 15_000, 'cmd.deploy.apply of the fixed project')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const sent = commands
      .map((c) => c.data as { envId: string; projectId: string; commitSha: string; artifactRef: string })
      .map(({ envId, projectId, commitSha, artifactRef }) => ({ envId, projectId, commitSha, artifactRef }))
      .sort((a, b) => (a.envId < b.envId ? -1 : 1))
    expect(sent).toEqual(
      [
        {
          envId: fixed.envs.staging,
          projectId: fixed.id,
          commitSha: 'b'.repeat(40),
          artifactRef: 'nginx:1.27',
        },
        {
          envId: fixed.envs.production,
          projectId: fixed.id,
          commitSha: 'b'.repeat(40),
          artifactRef: 'nginx:1.26',
        },
      ].sort((a, b) => ((a.envId as string) < (b.envId as string) ? -1 : 1)),
    )
  })
})
