import { deployPlanFixture } from '@rxt/contracts'
import { describe, expect, it } from 'vitest'
import { checkPlan } from './check-request.ts'

describe('checkPlan', () => {
  const plan = deployPlanFixture('rxt-spot', 'rxt-spot')

  it('passes a plan whose requests are all its own', () => {
    expect(checkPlan(plan)).toBeUndefined()
  })

  it("refuses a plan whose requests name another environment or tenant: an adapter acts on the plan's only", () => {
    const foreign = {
      ...plan,
      deploy: { ...plan.deploy, envId: 'env_someone_else' },
      provision: { ...plan.provision, tenantId: 'tnt_other' },
    }
    const failure = checkPlan(foreign)
    expect(failure).toMatchObject({ code: 'invalid', retryable: false })
    expect(failure?.message).toContain('/deploy/envId is env_someone_else')
    expect(failure?.message).toContain('/provision/tenantId is tnt_other')
    const network = plan.network === null ? null : { ...plan.network, envId: 'env_x' }
    expect(checkPlan({ ...plan, network })?.message).toContain('/network/envId')
  })
})
