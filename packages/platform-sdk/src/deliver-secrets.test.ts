import { deployPlanFixture } from '@rxt/contracts'
import { NotFoundError, UnavailableError } from '@rxt/kit'
import { describe, expect, it } from 'vitest'
import { FailureCode, succeeded } from './compute-platform.ts'
import { type DeliveredSecret, deliverSecrets } from './deliver-secrets.ts'

const plan = deployPlanFixture('rxt-spot', 'rxt-spot')
const granted = { ...plan, secretGrant: { grantId: 'grt_1', expiresAt: '2025-06-01T00:15:00Z' } }
const value = 'postgres://app:s3cr3t-value@db/shop'

describe('delivering a plan’s secrets before its rollout', () => {
  it('reads the values by the plan’s grant, as its tenant, and writes those the workload reads', async () => {
    const reads: string[][] = []
    const writes: (readonly DeliveredSecret[])[] = []
    const outcome = await deliverSecrets({
      read: async (tenantId, grantId) => {
        reads.push([tenantId, grantId])
        return {
          values: [
            { ref: 'secret://shop/database-url', version: 2, value },
            { ref: 'secret://other', version: 1, value: 'not read by this workload' },
          ],
        }
      },
      write: async (envId, secrets) => {
        writes.push(secrets)
        return succeeded(envId)
      },
    })(granted)
    expect(outcome).toEqual({ ok: true, value: plan.envId })
    expect(reads).toEqual([[plan.tenantId, 'grt_1']])
    expect(writes).toEqual([[{ ref: 'secret://shop/database-url', version: 2, value }]])
  })

  it('leaves the environment as it is for a plan without a grant (a restore)', async () => {
    let called = false
    const outcome = await deliverSecrets({
      read: async () => {
        called = true
        return { values: [] }
      },
      write: async () => {
        called = true
        return succeeded(undefined)
      },
    })(plan)
    expect(outcome.ok).toBe(true)
    expect(called).toBe(false)
  })

  it('fails for good on an expired grant, for now when the secrets context is out of reach, and never says a value', async () => {
    const failing = (error: Error) =>
      deliverSecrets({
        read: async () => {
          throw error
        },
        write: async () => succeeded(undefined),
      })(granted)
    const expired = await failing(new NotFoundError('secrets: no grant grt_1'))
    expect(expired).toMatchObject({ ok: false, failure: { code: FailureCode.rejected, retryable: false } })
    if (!expired.ok) expect(expired.failure.message).toMatch(/grt_1 is expired or gone.*retry the deployment/)
    const away = await failing(new UnavailableError('secrets did not answer'))
    expect(away).toMatchObject({ ok: false, failure: { code: FailureCode.unavailable, retryable: true } })
    const short = await deliverSecrets({
      read: async () => ({ values: [{ ref: 'secret://other', version: 1, value }] }),
      write: async () => succeeded(undefined),
    })(granted)
    expect(short).toMatchObject({ ok: false, failure: { code: FailureCode.rejected } })
    if (!short.ok) {
      expect(short.failure.message).toContain('does not read secret://shop/database-url')
      expect(short.failure.message).not.toContain(value)
    }
  })
})
