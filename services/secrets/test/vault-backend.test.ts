// The secrets context with VAULT_ADDR set, against the real Vault of the test peers: values are KV v2
// versions under rxt-deploy/{tenantId}/secrets/{secretId}, the database keeps only their version
// numbers, grants read them with a short-lived token of the tenant alone, a rotation prunes Vault's
// old versions with the rows'. Skipped where Vault is not built (SKIPPED printed; CI=true fails).
import { randomBytes, randomUUID } from 'node:crypto'
import type { Envelope, SecretGranted } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, defineContext, loadMigrations, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { secrets } from '../src/index.ts'
import { createVaultStore } from '../src/vault-store.ts'

const addr = inject('vaultAddr')
const rootToken = inject('vaultToken')
const skipped = inject('vaultSkipReason') !== '' || addr === ''
const [pglite] = dbTargets()

describe.skipIf(skipped)('secrets kept in Vault (VAULT_ADDR)', () => {
  let handle: TestDatabase
  let runtime: Runtime
  let driver: ContextDeps<unknown>
  let alice: { authorization: string; orgId: string }
  let service = ''
  const events: Envelope[] = []
  const call = async (
    method: string,
    url: string,
    authorization: string,
    payload?: object,
    orgId?: string,
  ) => {
    const res = await runtime.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization, ...(orgId === undefined ? {} : { 'x-rxt-org': orgId }) },
      ...(payload === undefined ? {} : { payload }),
    })
    return { status: res.statusCode, text: res.body, body: res.body === '' ? undefined : res.json() }
  }
  const inVault = async (orgId: string, secretId: string, version?: number) =>
    fetch(
      `${addr}/v1/secret/data/rxt-deploy/${orgId}/secrets/${secretId}${version === undefined ? '' : `?version=${version}`}`,
      { headers: { 'X-Vault-Token': rootToken } },
    )

  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        {
          id: 'watch',
          types: ['evt.secret.granted', 'evt.secret.refused', 'evt.secret.accessed'],
          handle: async (m) => void events.push(m),
        },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [identity, secrets, harness],
      database: handle.database,
      env: { SECRETS_KEY: randomBytes(32).toString('base64url'), VAULT_ADDR: addr, VAULT_TOKEN: rootToken },
    })
    alice = await signUp(runtime, 'alice@vault.example')
    const issued = await call('POST', '/v1/admin/service-credentials', alice.authorization, {
      service: 'adapter-spot',
      permissions: ['secrets:deliver'],
    })
    expect(issued.status, issued.text).toBe(201)
    service = `Service ${issued.body.credential}`
  })
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  it('keeps each version in Vault, reads it by a grant, prunes what rotation drops', async () => {
    const value = `postgres://shop:${randomUUID()}@db/shop`
    const made = await call('POST', '/v1/secrets', alice.authorization, {
      name: 'db/url',
      projectId: 'prj-vault',
      value,
    })
    expect(made.status, made.text).toBe(201)
    const secretId = made.body.id as string
    const stored = await inVault(alice.orgId, secretId)
    expect(stored.status).toBe(200)
    expect(((await stored.json()) as { data: { data: unknown } }).data.data).toEqual({ value })
    // The database holds the KV version's number, not the value.
    const dump = await handle.database.openContext(
      'secrets',
      await loadMigrations(new URL('../migrations/', import.meta.url)),
      {
        kitMigrations: await loadMigrations(
          new URL('../../../packages/kit/src/migrations/context/', import.meta.url),
        ),
      },
    )
    const rows = await dump.withTenant(alice.orgId, async (tx) =>
      (await tx.query<{ row: string }>('SELECT v::text AS row FROM secret_versions v')).rows.map(
        (r) => r.row,
      ),
    )
    expect(rows.join('\n')).not.toContain(value.slice(10))

    const sent = await driver.db.transaction((tx) =>
      driver.bus.publish(tx, {
        type: 'cmd.secret.issue',
        tenantId: alice.orgId,
        key: 'env-vault',
        data: {
          deploymentId: `dep-${randomUUID()}`,
          projectId: 'prj-vault',
          envId: 'env-vault',
          refs: ['secret://db/url'],
        },
      }),
    )
    await until(() => events.some((e) => e.causationId === sent.id), 15_000, 'the grant')
    const granted = events.find((e) => e.causationId === sent.id)?.data as SecretGranted
    const read = await call(
      'GET',
      `/v1/secrets/grants/${granted.grantId}/values`,
      service,
      undefined,
      alice.orgId,
    )
    expect(read.status, read.text).toBe(200)
    expect(read.body.values).toEqual([{ ref: 'secret://db/url', version: 1, value }])

    // Five rotations: the sixth version is current, the first is gone from Vault as from the rows.
    for (let i = 2; i <= 6; i++) {
      const rotated = await call('POST', `/v1/secrets/${secretId}/rotate`, alice.authorization, {
        value: `v${i}`,
      })
      expect(rotated.status, rotated.text).toBe(200)
    }
    // Destroyed once the rotation that pruned it has committed.
    await until(
      async () => {
        const first = await inVault(alice.orgId, secretId, 1)
        const firstBody = (await first.json()) as {
          data?: { data?: unknown; metadata?: { destroyed?: boolean } }
        }
        return firstBody.data?.metadata?.destroyed ?? first.status === 404
      },
      15_000,
      'version 1 destroyed in Vault',
    )
    const sixth = await inVault(alice.orgId, secretId, 6)
    expect(((await sixth.json()) as { data: { data: unknown } }).data.data).toEqual({ value: 'v6' })
  })

  it('a prune whose transaction rolls back keeps its versions in Vault; a committed one destroys them', async () => {
    const store = createVaultStore({ addr, token: rootToken })
    const secretId = randomUUID()
    const binding = { tenantId: alice.orgId, secretId, version: 1 }
    const held = await driver.db.transaction((tx) => store.put(tx, binding, 'kept'))
    const versions = [{ version: 1, held }]
    await expect(
      driver.db.transaction(async (tx) => {
        await store.drop(tx, alice.orgId, secretId, versions)
        throw new Error('rolled back')
      }),
    ).rejects.toThrow('rolled back')
    const kept = await inVault(alice.orgId, secretId, 1)
    expect(((await kept.json()) as { data: { data: unknown } }).data.data).toEqual({ value: 'kept' })

    await driver.db.transaction((tx) => store.drop(tx, alice.orgId, secretId, versions))
    await until(
      async () => {
        const gone = await inVault(alice.orgId, secretId, 1)
        const body = (await gone.json()) as { data?: { metadata?: { destroyed?: boolean } } }
        return body.data?.metadata?.destroyed ?? gone.status === 404
      },
      15_000,
      'the committed prune destroyed in Vault',
    )
  })

  it("reads with a token of the tenant's own: one that reads its path and no other tenant's", async () => {
    // The policy the store made for the tenant: read under its own prefix only.
    const policy = await fetch(`${addr}/v1/sys/policies/acl/rxt-deploy-tenant-${alice.orgId}`, {
      headers: { 'X-Vault-Token': rootToken },
    })
    expect(policy.status).toBe(200)
    const text = ((await policy.json()) as { data: { policy: string } }).data.policy
    expect(text).toContain(`secret/data/rxt-deploy/${alice.orgId}/secrets/*`)
    expect(text).toContain('"read"')
    expect(text).not.toMatch(/create|update|delete/)
  })
})
