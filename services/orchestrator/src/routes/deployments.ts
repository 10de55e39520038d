import { actorOf, type HttpApp, principalOf, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Deployments } from '../deployments.ts'
import { startKeepalive } from '../keepalive.ts'
import {
  DeployBody,
  Deployment,
  DeploymentParams,
  DeploymentWithSteps,
  EnvId,
  EnvParams,
  errors,
  read,
  requestBy,
  tags,
  write,
} from './schemas.ts'

export interface DeploymentRouteOptions {
  /** How often a deployment's open event stream sends its keepalive comment (15 s). */
  readonly keepaliveMs?: number
}

/** Deployments: read, follow, list, start, cancel, roll back, retry. */
export const deploymentRoutes =
  (deployments: Deployments, options: DeploymentRouteOptions = {}) =>
  (app: HttpApp) => {
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
        // A comment every 15 s while nothing happens: no proxy takes the quiet stream for a dead one.
        const stopKeepalive = startKeepalive((text) => {
          if (!closed) raw.write(text)
        }, options.keepaliveMs)
        raw.on('close', () => {
          closed = true
          stopKeepalive()
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
          stopKeepalive()
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
          .send(
            await deployments.rollback(tenantOf(request), request.params.deploymentId, requestBy(request)),
          ),
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
  }
