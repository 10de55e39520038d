import { randomBytes } from 'node:crypto'
import type { Envelope } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registry } from '../src/index.ts'

/** An environment's stored overrides: what evt.project.updated carries of them, and their bound. */
const target = dbTargets()[0] as ReturnType<typeof dbTargets>[number]

describe.skipIf(target.skipped !== undefined)("an environment's stored overrides", () => {
  let handle: TestDatabase
  let runtime: Runtime
  let auth: string
  const events: Envelope[] = []
  const call = async (method: string, url: string, payload?: object) => {
    const res = await runtime.app.inject({
      method: method as 'POST',
      url: `/v1${url}`,
      headers: { authorization: auth },
      ...(payload === undefined ? {} : { payload }),
    })
    return { status: res.statusCode, body: res.json() }
  }

  beforeAll(async () => {
    handle = await target.create()
    const watcher = defineContext({
      name: 'watcher',
      handlers: () => [
        { id: 'projects', types: ['evt.project.updated'], handle: async (m) => void events.push(m) },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, registry, watcher],
      database: handle.database,
      env: { WEBHOOK_KEY: randomBytes(32).toString('base64url') },
    })
    auth = (await signUp(runtime, `overrides-${randomBytes(3).toString('hex')}@example.com`)).authorization
  }, 60_000)
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  it('are told in evt.project.updated as canonical JSON, and refused beyond what the event carries', async () => {
    const project = await call('POST', '/projects', { slug: 'shop', name: 'Shop' })
    expect(project.status).toBe(201)
    const env = await call('POST', `/projects/${project.body.id}/environments`, {
      name: 'production',
      type: 'production',
      overrides: { replicas: 3, env: { B: '2', A: '1' } },
    })
    expect(env.status).toBe(201)
    await until(
      () => events.some((e) => (e.data as { envIds: string[] }).envIds.includes(env.body.id)),
      10_000,
    )
    const told = events.find((e) => (e.data as { envIds: string[] }).envIds.includes(env.body.id))
    const after = (told?.data as { after: { environments: { overrides: string }[] } }).after.environments[0]
    // Canonical: keys sorted, no spaces.
    expect(after?.overrides).toBe('{"env":{"A":"1","B":"2"},"replicas":3}')

    const huge = await call('PATCH', `/projects/${project.body.id}/environments/${env.body.id}`, {
      overrides: {
        env: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`V${i}`, 'x'.repeat(200)])),
      },
    })
    expect(huge.status).toBe(422)
    expect(huge.body.errors[0]).toMatchObject({ path: '/overrides' })
    // Nothing changed.
    const kept = await call('GET', `/projects/${project.body.id}/environments/${env.body.id}`)
    expect(kept.body.overrides).toEqual({ replicas: 3, env: { B: '2', A: '1' } })
  })
})
