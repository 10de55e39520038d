// The KV v2 client against the real Vault of the test peers (npm run peers -- build), a dev server
// started for the run. Skipped where it is not built (the run's setup prints SKIPPED with the reason;
// under CI=true it fails instead).

import { setTimeout as sleep } from 'node:timers/promises'
import {
  AuthenticationError,
  InputError,
  NotAllowedError,
  NotFoundError,
  newId,
  UnavailableError,
} from '@rxt/kit'
import { describe, expect, inject, it } from 'vitest'
import { createVaultKv } from './vault.ts'

const addr = inject('vaultAddr')
const rootToken = inject('vaultToken')
const skipped = inject('vaultSkipReason')

describe.skipIf(skipped !== '' || addr === '')('the KV v2 client with the real Vault', () => {
  const kv = () => createVaultKv({ addr, token: rootToken })

  it('writes versions and reads each back, the latest by default', async () => {
    const tenant = newId()
    const first = await kv().put(tenant, 'db/password', 'one')
    const second = await kv().put(tenant, 'db/password', 'two')
    expect(second).toBe(first + 1)
    expect(await kv().read(tenant, 'db/password', first)).toEqual({ value: 'one', version: first })
    expect(await kv().read(tenant, 'db/password', second)).toEqual({ value: 'two', version: second })
    expect(await kv().read(tenant, 'db/password')).toEqual({ value: 'two', version: second })
    await expect(kv().read(tenant, 'db/password', second + 1)).rejects.toBeInstanceOf(NotFoundError)
  })

  it('keeps the values under rxt-deploy/{tenantId}/secrets/{name}', async () => {
    const tenant = newId()
    await kv().put(tenant, 'api-key', 'v')
    const res = await fetch(`${addr}/v1/secret/data/rxt-deploy/${tenant}/secrets/api-key`, {
      headers: { 'X-Vault-Token': rootToken },
    })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { data: { data: unknown } }).data.data).toEqual({ value: 'v' })
  })

  it('destroys every version of a secret', async () => {
    const tenant = newId()
    const version = await kv().put(tenant, 'gone', 'v')
    await kv().destroy(tenant, 'gone')
    await expect(kv().read(tenant, 'gone', version)).rejects.toBeInstanceOf(NotFoundError)
    await expect(kv().read(tenant, 'gone')).rejects.toBeInstanceOf(NotFoundError)
    // And its metadata: a new write starts again at version 1.
    expect(await kv().put(tenant, 'gone', 'again')).toBe(1)
  })

  it("issues a token that reads its tenant's secrets and no other tenant's", async () => {
    const [mine, theirs] = [newId(), newId()]
    const [myValue, theirValue] = [`mine-${newId()}`, `theirs-${newId()}`]
    await kv().put(mine, 'db/password', myValue)
    await kv().put(theirs, 'db/password', theirValue)
    const issued = await kv().issueToken(mine, 60)
    expect(issued.policy).toBe(`rxt-deploy-tenant-${mine}`)
    expect(issued.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000)
    expect(issued.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 61_000)
    const tenantKv = createVaultKv({ addr, token: issued.token })
    expect((await tenantKv.read(mine, 'db/password')).value).toBe(myValue)
    const refused = await tenantKv.read(theirs, 'db/password').catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(NotAllowedError)
    expect((refused as Error).message).toBe(
      `the token may not read the secret rxt-deploy/${theirs}/secrets/db/password`,
    )
    // Read only: it cannot write its own tenant's values, nor make tokens.
    const write = await tenantKv.put(mine, 'db/password', 'x').catch((error: unknown) => error)
    expect(write).toBeInstanceOf(NotAllowedError)
    await expect(tenantKv.issueToken(mine, 60)).rejects.toBeInstanceOf(NotAllowedError)
    // No error carries a token or a value.
    for (const error of [refused, write] as Error[]) {
      const said = JSON.stringify({ ...error, said: error.message, cause: String(error.cause) })
      for (const secret of [issued.token, rootToken, myValue, theirValue]) expect(said).not.toContain(secret)
    }
  })

  it('issues tokens that expire', { timeout: 20_000 }, async () => {
    const tenant = newId()
    await kv().put(tenant, 'short', 'lived')
    const issued = await kv().issueToken(tenant, 2)
    const tenantKv = createVaultKv({ addr, token: issued.token })
    expect((await tenantKv.read(tenant, 'short')).value).toBe('lived')
    await sleep(Math.max(0, issued.expiresAt.getTime() - Date.now()) + 1500)
    const expired = await tenantKv.read(tenant, 'short').catch((error: unknown) => error)
    expect(expired).toBeInstanceOf(AuthenticationError)
    expect((expired as Error).message).toMatch(/expired, revoked or unknown/)
  })

  it('refuses names and tenants that would leave the tenant’s path', async () => {
    for (const name of ['../other', 'a//b', '/abs', 'UPPER', 'a/*', '']) {
      await expect(kv().put(newId(), name, 'v'), name).rejects.toBeInstanceOf(InputError)
    }
    for (const tenant of ['a/b', '*', '"x"', '']) {
      await expect(kv().put(tenant, 'n', 'v'), tenant).rejects.toBeInstanceOf(InputError)
      await expect(kv().issueToken(tenant, 60), tenant).rejects.toBeInstanceOf(InputError)
    }
    await expect(kv().issueToken(newId(), 0)).rejects.toBeInstanceOf(InputError)
  })

  it('says Vault is unavailable when nothing answers', async () => {
    const nowhere = createVaultKv({ addr: 'http://127.0.0.1:9', token: 'x', timeoutMs: 2000 })
    const error = await nowhere.read(newId(), 'n').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnavailableError)
    expect((error as UnavailableError).retryable).toBe(true)
  })
})
