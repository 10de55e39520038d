import { type DeployPlan, violations } from '@rxt/contracts'
import type { TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'
import { FailureCode, failure, type PlatformFailure } from './compute-platform.ts'

const validators = new WeakMap<TSchema, Validator>()

/**
 * The `invalid` failure of a request that breaks its schema (every problem, by JSON pointer), or
 * undefined when it is valid. Adapters check every request with it before any work.
 */
export function checkRequest(schema: TSchema, request: unknown): PlatformFailure | undefined {
  let validator = validators.get(schema)
  if (validator === undefined) {
    validator = Compile(schema) as unknown as Validator
    validators.set(schema, validator)
  }
  if (validator.Check(request)) return undefined
  const problems = violations(validator, request, '')
  return failure(
    FailureCode.invalid,
    problems.map((p) => `${p.path === '' ? 'the request' : p.path} ${p.message}`).join('; '),
  )
}

/**
 * What a plan must hold beyond its schema: its three requests are for its own environment, tenant and
 * project, so an adapter that acts on a request acts for the plan's tenant only. One line per broken
 * rule; none when it holds.
 */
function mismatches(plan: DeployPlan): string[] {
  const problems: string[] = []
  const same = (path: string, value: string, expected: string, what: string) => {
    if (value !== expected) problems.push(`${path} is ${value}, not the plan's ${what} ${expected}`)
  }
  same('/provision/envId', plan.provision.envId, plan.envId, 'environment')
  same('/provision/tenantId', plan.provision.tenantId, plan.tenantId, 'tenant')
  same('/provision/projectId', plan.provision.projectId, plan.projectId, 'project')
  same('/deploy/envId', plan.deploy.envId, plan.envId, 'environment')
  if (plan.network !== null) same('/network/envId', plan.network.envId, plan.envId, 'environment')
  return problems
}

/** The `invalid` failure of a plan whose requests are not all its own (see {@link mismatches}). */
export function checkPlan(plan: DeployPlan): PlatformFailure | undefined {
  const problems = mismatches(plan)
  return problems.length === 0 ? undefined : failure(FailureCode.invalid, problems.join('; '))
}
