import { type HttpApp, Permission, problemResponse, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Vcs } from './service.ts'

/** GitHub sends up to 25 MB. */
const maxDeliveryBytes = 25 * 1024 * 1024
const tags = ['vcs']
const headerOf = (value: string | string[] | undefined) => (typeof value === 'string' ? value : undefined)

/** The webhook receiver, and the history of a project's deliveries. */
export const vcsRoutes = (vcs: Vcs) => async (app: HttpApp) => {
  // The signature is over the bytes as sent: this scope keeps bodies raw.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(
      ['application/json', 'application/x-www-form-urlencoded'],
      { parseAs: 'buffer', bodyLimit: maxDeliveryBytes },
      (_request, body, done) => done(null, body),
    )
    scope.post(
      '/webhooks/github',
      {
        bodyLimit: maxDeliveryBytes,
        config: {
          auth: {
            public: "GitHub calls it; the delivery's signature (X-Hub-Signature-256) is checked instead",
          },
        },
        schema: {
          tags,
          summary: 'Receive a GitHub webhook delivery (JSON or form-encoded), signed with the project secret',
          headers: Type.Object({
            'x-github-event': Type.String({ minLength: 1, maxLength: 100 }),
            'x-github-delivery': Type.String({ minLength: 1, maxLength: 100 }),
            'x-hub-signature-256': Type.Optional(Type.String({ maxLength: 200 })),
          }),
          response: {
            202: Type.Object({ outcome: Type.String(), detail: Type.String() }),
            200: Type.Object({ duplicate: Type.Literal(true) }),
            400: problemResponse('Not a JSON payload'),
            401: problemResponse('No signature, or one no project of the repository made'),
          },
        },
      },
      async (request, reply) => {
        const result = await vcs.receive({
          event: String(request.headers['x-github-event']),
          deliveryId: String(request.headers['x-github-delivery']),
          signature: headerOf(request.headers['x-hub-signature-256']),
          contentType: String(request.headers['content-type'] ?? 'application/json'),
          body: request.body as Buffer,
        })
        return result.duplicate
          ? reply.code(200).send({ duplicate: true as const })
          : reply.code(202).send({ outcome: result.outcome, detail: result.detail })
      },
    )
  })
  app.post(
    '/admin/vcs/prune',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary: "Remove every project's deliveries beyond its newest 1,000 now (it runs every 10 minutes)",
        response: {
          200: Type.Object({ removed: Type.Integer() }),
          401: problemResponse('Not authenticated'),
          403: problemResponse('Not allowed'),
        },
      },
    },
    async () => ({ removed: await vcs.prune() }),
  )
  app.get(
    '/projects/:projectId/webhook/deliveries',
    {
      config: { auth: { permission: Permission.projectsRead } },
      schema: {
        tags,
        summary: "The project's last 1,000 webhook deliveries, newest first, with what became of each",
        params: Type.Object({ projectId: Type.String({ format: 'uuid' }) }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                deliveryId: Type.String(),
                event: Type.String(),
                action: Type.Union([Type.String(), Type.Null()]),
                outcome: Type.String({ description: 'published, ignored or failed' }),
                detail: Type.String(),
                receivedAt: Type.String({ format: 'date-time' }),
              }),
            ),
          }),
          401: problemResponse('Not authenticated'),
          403: problemResponse('Not allowed'),
          404: problemResponse('No such project (or not yours)'),
        },
      },
    },
    async (request) => ({ items: await vcs.deliveries(tenantOf(request), request.params.projectId) }),
  )
}
