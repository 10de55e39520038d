import type { DeployPlan } from '@rxt/contracts'
import { isKitError, NotFoundError, UnavailableError } from '@rxt/kit'
import { FailureCode, failed, failure, type Outcome, succeeded } from './compute-platform.ts'

/** A secret's value as the secrets context gives it for one deployment, by its grant. */
export interface DeliveredSecret {
  readonly ref: string
  readonly version: number
  readonly value: string
}

export interface SecretsDelivery {
  /** Reads a grant's values (`@rxt/secrets/client`'s grantValues, as the adapter's service). */
  readonly read: (tenantId: string, grantId: string) => Promise<{ values: readonly DeliveredSecret[] }>
  /** Puts them where the workload reads them (a Kubernetes Secret each; a VM's guest customisation). */
  readonly write: (envId: string, secrets: readonly DeliveredSecret[]) => Promise<Outcome<unknown>>
}

/**
 * Before a rollout (`RolloutOptions.secrets`): the values of the secrets the plan's workload reads,
 * read by the plan's grant from the secrets context and written to the environment. The values are
 * held only for the call and never appear in a failure. A plan with no grant (what restores an earlier
 * deployment) leaves the environment's secrets as they are.
 */
export const deliverSecrets =
  (delivery: SecretsDelivery) =>
  async (plan: DeployPlan): Promise<Outcome<unknown>> => {
    const grant = plan.secretGrant
    if (grant === undefined) return succeeded(undefined)
    const refs = new Set(plan.deploy.secrets.map((s) => s.ref))
    let granted: { values: readonly DeliveredSecret[] }
    try {
      granted = await delivery.read(plan.tenantId, grant.grantId)
    } catch (error) {
      if (error instanceof NotFoundError)
        return failed(
          failure(
            FailureCode.rejected,
            `the deployment's secrets grant ${grant.grantId} is expired or gone (${error.message}): retry the deployment for a new one`,
            'secrets',
          ),
        )
      if (error instanceof UnavailableError)
        return failed(failure(FailureCode.unavailable, error.message, 'secrets'))
      // Refused (a credential without secrets:deliver, a malformed request): for good, and said.
      if (isKitError(error))
        return failed(
          failure(
            FailureCode.rejected,
            `the secrets context refused the grant's read: ${error.message}`,
            'secrets',
          ),
        )
      throw error
    }
    const values = granted.values.filter((v) => refs.has(v.ref))
    const missing = [...refs].filter((ref) => !values.some((v) => v.ref === ref))
    if (missing.length > 0)
      return failed(
        failure(
          FailureCode.rejected,
          `the secrets grant ${grant.grantId} does not read ${missing.join(', ')}: retry the deployment`,
          'secrets',
        ),
      )
    return delivery.write(plan.envId, values)
  }
