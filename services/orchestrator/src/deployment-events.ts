import type { DeployPlan } from '@rxt/contracts'
import type { PublishInput, SagaEvent, SagaInstance } from '@rxt/kit'
import { type DeployInput, deploySagaOf } from './deploy-saga.ts'

/** Why a deployment that ran stopped (evt.deploy.stopped). */
export type StopReason = 'superseded' | 'rolled-back' | 'destroyed' | 'failed'

/** evt.deploy.stopped of a deployment that ran somewhere (none for one never placed). */
export const stoppedEvent = (
  tenantId: string,
  deployment: { readonly id: string; readonly envId: string; readonly platform: string | null },
  reason: StopReason,
  now: Date,
): PublishInput[] =>
  deployment.platform === null
    ? []
    : [
        {
          type: 'evt.deploy.stopped',
          tenantId,
          key: deployment.envId,
          data: {
            envId: deployment.envId,
            deploymentId: deployment.id,
            platform: deployment.platform,
            stoppedAt: now.toISOString(),
            reason,
          },
        },
      ]

/** The index of the rollout step in the version of the deploy saga an instance runs. */
const rolloutStepOf = (saga: SagaInstance) =>
  deploySagaOf(saga.typeVersion).steps.findIndex((s) => s.name === 'rollout')

/**
 * What a deploy saga's new history entries tell the other contexts: its workload runs once rolled out
 * (evt.deploy.started: metering starts) and stops when that is undone (evt.deploy.stopped); it is
 * ready (evt.deploy.ready, with its URLs, none for a deployment nothing routes to by name) or failed
 * (evt.deploy.failed, with the step and reason). Pure: the caller publishes them in the transition's
 * transaction.
 */
export function deployEventsOf(
  saga: SagaInstance,
  events: readonly SagaEvent[],
  plan: DeployPlan | undefined,
  urls: readonly string[],
  now: Date,
): PublishInput[] {
  const tenantId = saga.tenantId as string
  const input = saga.input as DeployInput
  const common = { envId: input.envId, deploymentId: saga.id }
  const rolloutStep = rolloutStepOf(saga)
  const message = (type: string, data: Record<string, unknown>): PublishInput => ({
    type,
    tenantId,
    key: input.envId,
    data: { ...common, ...data },
  })
  return events.flatMap((event): PublishInput[] => {
    if (event.kind === 'step-succeeded' && event.step === rolloutStep && plan)
      return [
        message('evt.deploy.started', {
          projectId: input.projectId,
          platform: plan.platform,
          artifactRef: input.artifactRef,
          startedAt: now.toISOString(),
        }),
      ]
    if (event.kind === 'step-compensated' && event.step === rolloutStep && plan)
      return stoppedEvent(
        tenantId,
        { id: saga.id, envId: input.envId, platform: plan.platform },
        'failed',
        now,
      )
    if (event.kind === 'succeeded' && plan)
      return [message('evt.deploy.ready', { platform: plan.platform, urls })]
    if ((event.kind === 'failed' || event.kind === 'cancelled') && saga.failure !== null)
      return [
        message('evt.deploy.failed', {
          platform: plan?.platform ?? null,
          step: saga.failure.step ?? (event.kind === 'cancelled' ? 'cancelled' : 'deadline'),
          reason: saga.failure.reason.slice(0, 2000),
          compensated: saga.compensationFailures.length === 0,
        }),
      ]
    return []
  })
}
