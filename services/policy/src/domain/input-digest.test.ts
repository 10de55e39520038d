import { describe, expect, it } from 'vitest'
import { inputDigest, maskSecrets } from './input-digest.ts'

describe('the input digest', () => {
  it('masks values under secret-sounding keys and values that look like secrets', () => {
    expect(
      maskSecrets({
        password: 'hunter2',
        nested: { apiKey: 'abc', clientSecret: 'xyz', name: 'shop' },
        env: { DATABASE_URL: 'postgres://app:s3cret@db/app', GREETING: 'hello' },
        header: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
        list: ['ghp_abcdefghijklmnop', 'plain'],
        replicas: 3,
      }),
    ).toEqual({
      password: '[masked]',
      nested: { apiKey: '[masked]', clientSecret: '[masked]', name: 'shop' },
      env: { DATABASE_URL: '[masked]', GREETING: 'hello' },
      header: '[masked]',
      list: ['[masked]', 'plain'],
      replicas: 3,
    })
  })

  it('is the same for inputs that differ in a secret only, and differs otherwise', () => {
    const a = inputDigest({ spec: { replicas: 2 }, token: 'one' })
    expect(inputDigest({ token: 'two', spec: { replicas: 2 } })).toBe(a)
    expect(inputDigest({ spec: { replicas: 3 }, token: 'one' })).not.toBe(a)
    expect(a).toMatch(/^sha256:[a-f0-9]{64}$/)
  })
})
