import { randomBytes } from 'node:crypto'
import { InputError } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { secrets } from '../src/index.ts'
import { kekOfConfig } from '../src/service.ts'

describe('SECRETS_KEY', () => {
  it('is 32 bytes of base64url, or refused with how to make one', () => {
    const key = randomBytes(32)
    expect(kekOfConfig({ SECRETS_KEY: key.toString('base64url') }).key.equals(key)).toBe(true)
    for (const bad of [undefined, '', randomBytes(16).toString('base64url'), `${'A'.repeat(42)}!`]) {
      expect(() => kekOfConfig({ SECRETS_KEY: bad })).toThrow(InputError)
    }
    expect(() => kekOfConfig({})).toThrow(/SECRETS_KEY is not set.*openssl rand -base64 32/)
  })

  describe('at start', () => {
    const [pglite] = dbTargets()
    let handle: TestDatabase
    beforeAll(async () => {
      handle = await (pglite as NonNullable<typeof pglite>).create()
    })
    afterAll(async () => {
      await handle?.dispose()
    })

    it('refuses to start the context without it, saying what to set', async () => {
      await expect(startTestRuntime({ contexts: [secrets], database: handle.database })).rejects.toThrow(
        /SECRETS_KEY is not set/,
      )
    })
  })
})
