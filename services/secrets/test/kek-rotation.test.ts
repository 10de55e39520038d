// KEK rotation: a new SECRETS_KEY with the old one in SECRETS_KEY_PREVIOUS re-wraps every data key (the
// rewrap job, at start) without touching a value; afterwards the old key is not needed.
import { randomBytes, randomUUID } from 'node:crypto'
import type { Envelope, SecretGranted } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, loadMigrations, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kekOf, secrets } from '../src/index.ts'

const [pglite] = dbTargets()
const oldKey = randomBytes(32)
const newKey = randomBytes(32)

describe('KEK rotation (SECRETS_KEY_PREVIOUS)', () => {
  let handle: TestDatabase
  let runtime: Runtime | undefined
  let driver: ContextDeps<unknown>
  const events: Envelope[] = []
  const harness = defineContext({
    name: 'harness',
    start: (deps) => {
      driver = deps as ContextDeps<unknown>
    },
    handlers: () => [
      { id: 'watch', types: ['evt.secret.granted'], handle: async (m) => void events.push(m) },
    ],
  })
  const start = async (env: Record<string, string>) => {
    await runtime?.stop()
    runtime = await startTestRuntime({
      contexts: [identity, secrets, harness],
      database: handle.database,
      env,
    })
    return runtime
  }
  const kekIds = async () => {
    const db = await handle.database.openContext(
      'secrets',
      await loadMigrations(new URL('../migrations/', import.meta.url)),
      {
        kitMigrations: await loadMigrations(
          new URL('../../../packages/kit/src/migrations/context/', import.meta.url),
        ),
      },
    )
    return (await db.query<{ kek_id: string }>('SELECT kek_id FROM key_wrappings')).rows.map((r) => r.kek_id)
  }

  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
  })
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  it('re-wraps every data key by the new KEK and reads every value after', async () => {
    let rt = await start({ SECRETS_KEY: oldKey.toString('base64url') })
    const owner = await signUp(rt, 'owner@kek.example')
    const credential = (
      await rt.app.inject({
        method: 'POST',
        url: '/v1/admin/service-credentials',
        headers: { authorization: owner.authorization },
        payload: { service: 'adapter-spot', permissions: ['secrets:deliver'] },
      })
    ).json().credential as string
    const value = `token-${randomUUID()}`
    const made = await rt.app.inject({
      method: 'POST',
      url: '/v1/secrets',
      headers: { authorization: owner.authorization },
      payload: { name: 'api/token', projectId: 'prj-kek', value },
    })
    expect(made.statusCode, made.body).toBe(201)
    expect(await kekIds()).toEqual([kekOf(oldKey).id])
    const readValue = async () => {
      const sent = await driver.db.transaction((tx) =>
        driver.bus.publish(tx, {
          type: 'cmd.secret.issue',
          tenantId: owner.orgId,
          key: 'env-kek',
          data: {
            deploymentId: `dep-${randomUUID()}`,
            projectId: 'prj-kek',
            envId: 'env-kek',
            refs: ['secret://api/token'],
          },
        }),
      )
      await until(() => events.some((e) => e.causationId === sent.id), 15_000, 'the grant')
      const grantId = (events.find((e) => e.causationId === sent.id)?.data as SecretGranted).grantId
      return (runtime as Runtime).app.inject({
        url: `/v1/secrets/grants/${grantId}/values`,
        headers: { authorization: `Service ${credential}`, 'x-rxt-org': owner.orgId },
      })
    }

    // The new key alone cannot open the old wrapping: said, with no value.
    await start({ SECRETS_KEY: newKey.toString('base64url') })
    const refused = await readValue()
    expect(refused.statusCode).toBe(503)
    expect(refused.body).not.toContain(value)

    // With the old one as previous, the job re-wraps at start; the value reads.
    rt = await start({
      SECRETS_KEY: newKey.toString('base64url'),
      SECRETS_KEY_PREVIOUS: oldKey.toString('base64url'),
    })
    await until(async () => (await kekIds()).every((id) => id === kekOf(newKey).id), 10_000, 'the re-wrap')
    const read = await readValue()
    expect(read.statusCode, read.body).toBe(200)
    expect(read.json().values).toEqual([{ ref: 'secret://api/token', version: 1, value }])

    // And the old key is no longer needed.
    await start({ SECRETS_KEY: newKey.toString('base64url') })
    expect((await readValue()).json().values[0].value).toBe(value)
  })
})
