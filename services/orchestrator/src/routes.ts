import { randomUUID } from 'node:crypto'
import {
  actorOf,
  type HttpApp,
  InputError,
  Permission,
  principalOf,
  problemResponses,
  tenantOf,
} from '@rxt/kit'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { Deployments, DeployRequestBy } from './deployments.ts'

const tags = ['orchestrator']
const errors = problemResponses
const read = { auth: { permission: Permission.deploymentsRead } } as const
const write = { auth: { permission: Permission.deploymentsWrite } } as const
const Id = Type.String({ format: 'uuid' })
const EnvId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' })
const Timestamp = Type.String({ format: 'date-time' })
const Failure = Type.Object({
  step: Type.Union([Type.String(), Type.Null()], {
    description: 'The step that failed; null: the deadline or a cancel',
  }),
  code: Type.String({
    description:
      'A reason code: no-provider, platform-refused, network-refused, unhealthy, destroy-failed, restore-failed, timeout, deadline, cancelled',
  }),
  reason: Type.String({ description: 'What went wrong, for people' }),
})
const Deployment = Type.Object({
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
const Step = Type.Object({
  name: Type.String(),
  status: Type.String({
    description: 'pending, running, succeeded, failed, compensated, not-undone or compensation-failed',
  }),
  attempts: Type.Integer(),
  startedAt: Type.Union([Timestamp, Type.Null()]),
  endedAt: Type.Union([Timestamp, Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
})
const DeploymentWithSteps = Type.Intersect([Deployment, Type.Object({ steps: Type.Array(Step) })])
const DeploymentParams = Type.Object({ deploymentId: Id })
const EnvParams = Type.Object({ envId: EnvId })
const ArtifactRef = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: '^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[A-Za-z0-9._/-]+(:[A-Za-z0-9._-]{1,128})?(@sha256:[a-f0-9]{64})?$',
  description: 'The image to run: registry/repository:tag, pinned by @sha256: digest where known',
})
const DeployBody = Type.Object(
  {
    artifactRef: ArtifactRef,
    commitSha: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'The commit it was built from' }),
    ),
  },
  { additionalProperties: false },
)
const PromoteBody = Type.Object(
  { from: Type.Intersect([EnvId], { description: 'The environment whose healthy deployment is promoted' }) },
  { additionalProperties: false },
)
const DestroyBody = Type.Object(
  {
    confirm: Type.String({
      minLength: 1,
      maxLength: 128,
      description: "The environment's name, typed as confirmation",
    }),
  },
  { additionalProperties: false },
)
const HistoryEntry = Type.Object(
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
const WorkflowType = Type.Union([
  Type.Literal('deploy'),
  Type.Literal('rollback'),
  Type.Literal('promote'),
  Type.Literal('destroy'),
])
const Workflow = Type.Object({
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
const StartBody = Type.Object(
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
const requestBy = (request: FastifyRequest): DeployRequestBy => ({
  by: actorOf(principalOf(request)),
  requestKey: request.idempotency?.key ?? randomUUID(),
})

/** The orchestrator's HTTP API under /v1: deployments, tenant-scoped. */
export const orchestratorRoutes = (deployments: Deployments) => (app: HttpApp) => {
  app.get(
    '/deployments/:deploymentId',
    {
      config: read,
      schema: {
        tags,
        summary: 'A deployment: its status, URLs, failure, and each step with its attempts and times',
        params: DeploymentParams,
        response: { 200: DeploymentWithSteps, ...errors },
      },
    },
    async (request) => deployments.get(tenantOf(request), request.params.deploymentId),
  )
  app.get(
    '/deployments/:deploymentId/events',
    {
      config: read,
      schema: {
        tags,
        summary:
          "A deployment's progress as it happens (Server-Sent Events): each step started, succeeded, failed, retried, undone, then `end`; resumable with Last-Event-ID",
        params: DeploymentParams,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })) }),
        response: {
          200: Type.String({
            description:
              'text/event-stream: `id` is the history sequence number, `event` its kind, `data` the entry as JSON',
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const tenantId = tenantOf(request)
      const id = request.params.deploymentId
      let after = Number(request.headers['last-event-id'] ?? 0)
      // Found (and the tenant's) before the stream opens: an error is still a problem document.
      let batch = await deployments.events(tenantId, id, after)
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
      })
      let closed = false
      raw.on('close', () => {
        closed = true
      })
      try {
        for (;;) {
          for (const event of batch.events) {
            raw.write(`id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`)
            after = event.seq
          }
          if (batch.over || closed) break
          await new Promise((resolve) => setTimeout(resolve, 250))
          batch = await deployments.events(tenantId, id, after)
        }
        if (!closed) raw.write(`event: end\ndata: ${JSON.stringify({ status: batch.status })}\n\n`)
      } catch (error) {
        request.log.warn({ err: error, deploymentId: id }, 'deployment event stream ended early')
      } finally {
        raw.end()
      }
    },
  )
  app.get(
    '/environments/:envId/deployments',
    {
      config: read,
      schema: {
        tags,
        summary: "An environment's deployments, newest first",
        params: Type.Object({ envId: EnvId }),
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }),
        response: { 200: Type.Object({ items: Type.Array(Deployment) }), ...errors },
      },
    },
    async (request) => ({
      items: await deployments.list(tenantOf(request), request.params.envId, request.query.limit),
    }),
  )
  app.post(
    '/deployments/:deploymentId/cancel',
    {
      config: write,
      schema: {
        tags,
        summary:
          'Cancel a deployment: a queued one ends at once; a running one has what it did undone, last first; it ends cancelled',
        params: DeploymentParams,
        response: { 200: DeploymentWithSteps, ...errors },
      },
    },
    async (request) =>
      deployments.cancel(tenantOf(request), request.params.deploymentId, actorOf(principalOf(request))),
  )
  app.post(
    '/environments/:envId/deployments',
    {
      config: write,
      schema: {
        tags,
        summary:
          "Deploy an artifact to an environment with the environment's recorded deploy.yaml and overrides (the same Idempotency-Key is the same deployment)",
        params: EnvParams,
        body: DeployBody,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await deployments.deploy(
            tenantOf(request),
            request.params.envId,
            { artifactRef: request.body.artifactRef, commitSha: request.body.commitSha ?? null },
            requestBy(request),
          ),
        ),
  )
  app.post(
    '/deployments/:deploymentId/rollback',
    {
      config: write,
      schema: {
        tags,
        summary:
          'Roll back to this deployment: deploy again its artifact, manifest and overrides (by digest); it must have been ready once and not be what its environment runs now',
        params: DeploymentParams,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(await deployments.rollback(tenantOf(request), request.params.deploymentId, requestBy(request))),
  )
  app.post(
    '/deployments/:deploymentId/retry',
    {
      config: write,
      schema: {
        tags,
        summary:
          'Run a failed or cancelled deployment again as it was (its artifact, manifest and overrides), after what made it fail is mended: a break-glass override approved for it, say; 409 for one that did not fail',
        params: DeploymentParams,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(await deployments.retry(tenantOf(request), request.params.deploymentId, requestBy(request))),
  )
  app.post(
    '/environments/:envId/promote',
    {
      config: write,
      schema: {
        tags,
        summary:
          "Promote to this environment exactly what is healthy in another of its project (the artifact and manifest digests of that environment's current deployment, with this environment's overrides); 409 when the source runs nothing ready",
        params: EnvParams,
        body: PromoteBody,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await deployments.promote(
            tenantOf(request),
            request.params.envId,
            request.body.from,
            requestBy(request),
          ),
        ),
  )
  app.post(
    '/environments/:envId/destroy',
    {
      config: write,
      schema: {
        tags,
        summary:
          "Destroy an environment on its provider: everything it runs goes. `confirm` must be the environment's name; refused while one of its deployments runs or waits",
        params: EnvParams,
        body: DestroyBody,
        response: { 202: DeploymentWithSteps, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await deployments.destroy(
            tenantOf(request),
            request.params.envId,
            request.body.confirm,
            requestBy(request),
          ),
        ),
  )

  // The engine view (seed 001): every deployment is a workflow of one of four types.
  const start = (
    request: FastifyRequest<{ Params: { type: string }; Body: Record<string, string | undefined> }>,
  ) => {
    const tenantId = tenantOf(request)
    const body = request.body
    const need = (field: string) => {
      const value = body[field]
      if (value === undefined)
        throw new InputError(`a ${request.params.type} workflow needs ${field}`, [
          { path: `/body/${field}`, message: 'required' },
        ])
      return value
    }
    const by = requestBy(request)
    switch (request.params.type) {
      case 'deploy':
        return deployments.deploy(
          tenantId,
          need('envId'),
          { artifactRef: need('artifactRef'), commitSha: body.commitSha ?? null },
          by,
        )
      case 'rollback':
        return deployments.rollback(tenantId, need('deploymentId'), by)
      case 'promote':
        return deployments.promote(tenantId, need('envId'), need('from'), by)
      default:
        return deployments.destroy(tenantId, need('envId'), need('confirm'), by)
    }
  }
  app.post(
    '/workflows/:type/start',
    {
      config: write,
      schema: {
        tags,
        summary:
          'Start a workflow: deploy, rollback, promote or destroy (the same as their resource routes); answered with the workflow and its history so far',
        params: Type.Object({ type: WorkflowType }),
        body: StartBody,
        response: { 202: Workflow, ...errors },
      },
    },
    async (request, reply) => {
      const deployment = await start(request)
      return reply.code(202).send(await deployments.workflow(tenantOf(request), deployment.id))
    },
  )
  app.get(
    '/workflows/:workflowId',
    {
      config: read,
      schema: {
        tags,
        summary: "A workflow: its saga's state (status, step, attempt, version) and its whole history",
        params: Type.Object({ workflowId: Id }),
        response: { 200: Workflow, ...errors },
      },
    },
    async (request) => deployments.workflow(tenantOf(request), request.params.workflowId),
  )
  app.post(
    '/workflows/:workflowId/cancel',
    {
      config: write,
      schema: {
        tags,
        summary: 'Cancel a workflow: what it did is undone, last first (as POST /deployments/{id}/cancel)',
        params: Type.Object({ workflowId: Id }),
        response: { 200: Workflow, ...errors },
      },
    },
    async (request) => {
      const tenantId = tenantOf(request)
      await deployments.cancel(tenantId, request.params.workflowId, actorOf(principalOf(request)))
      return deployments.workflow(tenantId, request.params.workflowId)
    },
  )
}
