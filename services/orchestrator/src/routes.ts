import { actorOf, type HttpApp, Permission, principalOf, problemResponses, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Deployments } from './deployments.ts'

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
      'A reason code: no-provider, platform-refused, network-refused, timeout, deadline, cancelled',
  }),
  reason: Type.String({ description: 'What went wrong, for people' }),
})
const Deployment = Type.Object({
  id: Id,
  projectId: Type.String(),
  envId: Type.String(),
  environment: Type.String(),
  commitSha: Type.Union([Type.String(), Type.Null()]),
  artifactRef: Type.String(),
  manifestDigest: Type.String(),
  status: Type.Union(
    ['queued', 'superseded', 'running', 'compensating', 'ready', 'failed', 'cancelled'].map((s) =>
      Type.Literal(s),
    ),
    {
      description:
        'queued while another deploy of its environment runs (superseded when a newer one is queued after it), running, then ready; compensating while what was done is undone, then failed or cancelled',
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
}
