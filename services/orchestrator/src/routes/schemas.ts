// The schemas and route options the orchestrator routes share.
import { randomUUID } from 'node:crypto'
import { actorOf, Permission, principalOf, problemResponses } from '@rxt/kit'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { DeployRequestBy } from '../deployments.ts'

export const tags = ['orchestrator']
export const errors = problemResponses
export const read = { auth: { permission: Permission.deploymentsRead } } as const
export const write = { auth: { permission: Permission.deploymentsWrite } } as const
export const Id = Type.String({ format: 'uuid' })
export const EnvId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' })
export const Timestamp = Type.String({ format: 'date-time' })
export const Failure = Type.Object({
  step: Type.Union([Type.String(), Type.Null()], {
    description: 'The step that failed; null: the deadline or a cancel',
  }),
  code: Type.String({
    description:
      'A reason code: no-provider, platform-refused, network-refused, unhealthy, destroy-failed, restore-failed, timeout, deadline, cancelled',
  }),
  reason: Type.String({ description: 'What went wrong, for people' }),
})
export const Deployment = Type.Object({
  id: Id,
  kind: Type.Union([Type.Literal('deploy'), Type.Literal('destroy')], {
    description: 'deploy: an artifact deployed; destroy: the environment removed',
  }),
  trigger: Type.Union(
    [
      Type.Literal('push'),
      Type.Literal('manual'),
      Type.Literal('rollback'),
      Type.Literal('promote'),
      Type.Literal('retry'),
      Type.Literal('rotation'),
      Type.Literal('destroy'),
    ],
    {
      description:
        'What made it: a push (CI published its image), a person, a rollback, a promotion, a retry of a failed or cancelled deployment, a destroy',
    },
  ),
  sourceDeploymentId: Type.Union([Id, Type.Null()], {
    description:
      'What a rollback or promotion deploys again, or the deployment whose environment a destroy removed',
  }),
  requestedBy: Type.Union([Type.String(), Type.Null()], { description: 'Who asked; null: a push' }),
  current: Type.Boolean({ description: 'Whether its environment runs it now' }),
  succeededAt: Type.Union([Timestamp, Type.Null()], { description: 'When it became ready; null: never' }),
  projectId: Type.String(),
  envId: Type.String(),
  environment: Type.String(),
  commitSha: Type.Union([Type.String(), Type.Null()]),
  artifactRef: Type.String(),
  manifestDigest: Type.String(),
  status: Type.Union(
    [
      Type.Literal('queued'),
      Type.Literal('superseded'),
      Type.Literal('running'),
      Type.Literal('compensating'),
      Type.Literal('ready'),
      Type.Literal('failed'),
      Type.Literal('cancelled'),
      Type.Literal('replaced'),
      Type.Literal('destroyed'),
    ],
    {
      description:
        'queued while another deploy of its environment runs (superseded when a newer one is queued after it), running, then ready; compensating while what was done is undone, then failed or cancelled; replaced once a later deployment of its environment is ready; destroyed once its environment is (a destroy itself ends destroyed)',
    },
  ),
  step: Type.Union([Type.String(), Type.Null()], { description: 'The step being done or undone' }),
  platform: Type.Union([Type.String(), Type.Null()]),
  provider: Type.Union([Type.String(), Type.Null()]),
  urls: Type.Array(Type.String(), { description: 'Where a ready deployment answers' }),
  failure: Type.Union([Failure, Type.Null()]),
  compensationFailures: Type.Array(
    Type.Object({ step: Type.String(), code: Type.String(), reason: Type.String() }),
    { description: 'Steps whose undoing failed: a person must undo them' },
  ),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export const Step = Type.Object({
  name: Type.String(),
  status: Type.String({
    description: 'pending, running, succeeded, failed, compensated, not-undone or compensation-failed',
  }),
  attempts: Type.Integer(),
  startedAt: Type.Union([Timestamp, Type.Null()]),
  endedAt: Type.Union([Timestamp, Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
})
export const DeploymentWithSteps = Type.Intersect([Deployment, Type.Object({ steps: Type.Array(Step) })])
export const DeploymentParams = Type.Object({ deploymentId: Id })
export const EnvParams = Type.Object({ envId: EnvId })
export const ArtifactRef = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: '^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[A-Za-z0-9._/-]+(:[A-Za-z0-9._-]{1,128})?(@sha256:[a-f0-9]{64})?$',
  description: 'The image to run: registry/repository:tag, pinned by @sha256: digest where known',
})
export const DeployBody = Type.Object(
  {
    artifactRef: ArtifactRef,
    commitSha: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'The commit it was built from' }),
    ),
  },
  { additionalProperties: false },
)
export const PromoteBody = Type.Object(
  { from: Type.Intersect([EnvId], { description: 'The environment whose healthy deployment is promoted' }) },
  { additionalProperties: false },
)
export const DestroyBody = Type.Object(
  {
    confirm: Type.String({
      minLength: 1,
      maxLength: 128,
      description: "The environment's name, typed as confirmation",
    }),
  },
  { additionalProperties: false },
)
export const HistoryEntry = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    at: Timestamp,
    kind: Type.String({
      description: 'started, step-started, step-succeeded, step-failed, retry-scheduled, …',
    }),
    step: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
)
export const WorkflowType = Type.Union([
  Type.Literal('deploy'),
  Type.Literal('rollback'),
  Type.Literal('promote'),
  Type.Literal('destroy'),
])
export const Workflow = Type.Object({
  id: Id,
  type: WorkflowType,
  saga: Type.String({ description: 'The saga that runs it (deploy or destroy)' }),
  sagaVersion: Type.Integer(),
  status: Type.Union([
    Type.Literal('queued'),
    Type.Literal('superseded'),
    Type.Literal('running'),
    Type.Literal('compensating'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
  ]),
  step: Type.Union([Type.String(), Type.Null()]),
  attempt: Type.Integer(),
  version: Type.Integer({ description: 'Transitions so far (optimistic concurrency)' }),
  failure: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  compensationFailures: Type.Array(Type.Object({}, { additionalProperties: true })),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  deployment: DeploymentWithSteps,
  history: Type.Array(HistoryEntry),
})
export const StartBody = Type.Object(
  {
    envId: Type.Optional(EnvId),
    artifactRef: Type.Optional(ArtifactRef),
    commitSha: Type.Optional(Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' })),
    deploymentId: Type.Optional(Id),
    from: Type.Optional(EnvId),
    confirm: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  {
    additionalProperties: false,
    description:
      'deploy: envId, artifactRef, commitSha?; rollback: deploymentId (the one to deploy again); promote: envId (the target), from; destroy: envId, confirm',
  },
)

/** Who asks, and what makes a request another deploy: its Idempotency-Key, or a fresh id. */
export const requestBy = (request: FastifyRequest): DeployRequestBy => ({
  by: actorOf(principalOf(request)),
  requestKey: request.idempotency?.key ?? randomUUID(),
})
