import { actorOf, type HttpApp, InputError, principalOf, tenantOf } from '@rxt/kit'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { Deployments } from '../deployments.ts'
import { errors, Id, read, requestBy, StartBody, tags, Workflow, WorkflowType, write } from './schemas.ts'

/** Workflows by type (the engine view): start, read, cancel. */
export const workflowRoutes = (deployments: Deployments) => (app: HttpApp) => {
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
