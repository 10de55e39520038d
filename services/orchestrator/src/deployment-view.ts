import type { SagaHistoryEntry, SagaInstance } from '@rxt/kit'
import { type DeploymentTrigger, deploySagaOf } from './deploy-saga.ts'
import { destroySaga } from './destroy-saga.ts'

/** A deployment as the API shows it: the read model's row, and each step as the saga's history tells it. */

export type DeploymentStatus =
  | 'queued'
  | 'superseded'
  | 'running'
  | 'compensating'
  | 'ready'
  | 'failed'
  | 'cancelled'
  | 'replaced'
  | 'destroyed'

export type DeploymentKind = 'deploy' | 'destroy'

export interface StepView {
  readonly name: string
  readonly status:
    | 'pending'
    | 'running'
    | 'succeeded'
    | 'failed'
    | 'compensated'
    | 'not-undone'
    | 'compensation-failed'
  readonly attempts: number
  readonly startedAt: string | null
  readonly endedAt: string | null
  readonly reason: string | null
}

export interface Deployment {
  readonly id: string
  /** deploy (of an artifact), or destroy (of the environment). */
  readonly kind: DeploymentKind
  readonly trigger: DeploymentTrigger | 'destroy'
  /** What a rollback or promotion deploys again, or the deployment a destroy removed. */
  readonly sourceDeploymentId: string | null
  readonly requestedBy: string | null
  /** Whether it is what its environment runs now. */
  readonly current: boolean
  readonly succeededAt: string | null
  readonly projectId: string
  readonly envId: string
  readonly environment: string
  readonly commitSha: string | null
  readonly artifactRef: string
  readonly manifestDigest: string
  readonly status: DeploymentStatus
  readonly step: string | null
  readonly platform: string | null
  readonly provider: string | null
  readonly urls: string[]
  readonly failure: { readonly step: string | null; readonly code: string; readonly reason: string } | null
  readonly compensationFailures: {
    readonly step: string
    readonly code: string
    readonly reason: string
  }[]
  readonly createdAt: string
  readonly updatedAt: string
}

export const statusOf = (saga: SagaInstance): DeploymentStatus =>
  saga.status === 'succeeded' ? (saga.type === destroySaga.type ? 'destroyed' : 'ready') : saga.status

export interface Row {
  id: string
  kind: DeploymentKind
  trigger: Deployment['trigger']
  source_deployment_id: string | null
  requested_by: string | null
  current: boolean | null
  succeeded_at: Date | string | null
  project_id: string
  env_id: string
  environment: string
  commit_sha: string | null
  artifact_ref: string
  manifest_digest: string
  status: DeploymentStatus
  step: string | null
  platform: string | null
  provider: string | null
  urls: string[]
  failure: Deployment['failure']
  compensation_failures: Deployment['compensationFailures']
  created_at: Date | string
  updated_at: Date | string
}

export const toDeployment = (r: Row): Deployment => ({
  id: r.id,
  kind: r.kind,
  trigger: r.trigger,
  sourceDeploymentId: r.source_deployment_id,
  requestedBy: r.requested_by,
  current: r.current === true,
  succeededAt: r.succeeded_at === null ? null : new Date(r.succeeded_at).toISOString(),
  projectId: r.project_id,
  envId: r.env_id,
  environment: r.environment,
  commitSha: r.commit_sha,
  artifactRef: r.artifact_ref,
  manifestDigest: r.manifest_digest,
  status: r.status,
  step: r.step,
  platform: r.platform,
  provider: r.provider,
  urls: r.urls,
  failure: r.failure,
  compensationFailures: r.compensation_failures,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
})

/** A history entry as the API shows it: the step by its name. */
export type HistoryView = { seq: number; at: string; kind: string; step?: string } & Record<string, unknown>

/** The saga a deployment of `kind` is, in the version its saga started on (the newest when none did). */
export const definitionOf = (kind: DeploymentKind, version?: number) =>
  kind === 'destroy' ? destroySaga : deploySagaOf(version)

/** Each step of a deployment's saga as its history tells it: started, ended, attempts, and why it failed. */
export function stepsOf(
  kind: DeploymentKind,
  history: readonly SagaHistoryEntry[],
  version?: number,
): StepView[] {
  const steps = definitionOf(kind, version).steps.map(
    (s): { -readonly [K in keyof StepView]: StepView[K] } => ({
      name: s.name,
      status: 'pending',
      attempts: 0,
      startedAt: null,
      endedAt: null,
      reason: null,
    }),
  )
  for (const { at, event } of history) {
    const step = 'step' in event ? steps[event.step] : undefined
    if (step === undefined) continue
    const time = at.toISOString()
    switch (event.kind) {
      case 'step-started':
        step.status = 'running'
        step.attempts = event.attempt
        step.startedAt ??= time
        break
      case 'step-succeeded':
        step.status = 'succeeded'
        step.endedAt = time
        break
      case 'step-failed':
        if (event.phase === 'forward') {
          step.status = 'failed'
          step.endedAt = time
          step.reason = event.reason
        }
        break
      case 'step-timed-out':
        if (event.phase === 'forward') {
          step.status = 'failed'
          step.endedAt = time
          step.reason = 'no answer within the step timeout'
        }
        break
      case 'step-compensated':
        step.status = 'compensated'
        step.endedAt = time
        break
      case 'compensation-failed':
        step.status = 'compensation-failed'
        step.endedAt = time
        step.reason = event.reason
        break
      case 'not-undone':
        step.status = 'not-undone'
        break
      default:
        break
    }
  }
  return steps
}
