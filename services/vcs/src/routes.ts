import {
  AuthenticationError,
  auditWritten,
  type HttpApp,
  NotFoundError,
  Permission,
  problemResponse,
  successAuditOf,
  tenantOf,
} from '@rxt/kit'
import Type from 'typebox'
import { type Claim, notSignedByProject, type Vcs } from './service.ts'

/**
 * The largest delivery read: GitHub caps a webhook payload at 25 MB and sends none larger, so a
 * delivery GitHub sends is never refused for its size (GitHub does not retry by itself). Nothing of it
 * is read before the signature header and the project are known, and nothing is parsed before the
 * signature is checked.
 */
export const maxDeliveryBytes = 25 * 1024 * 1024
const tags = ['vcs']
const headerOf = (value: string | string[] | undefined) => (typeof value === 'string' ? value : undefined)
const signaturePattern = /^sha256=[0-9a-f]{64}$/
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Where deliveries go since each project has its own webhook URL (ADR 0016). */
const sharedUrlRetired =
  "this URL names no project: each project has its own webhook URL, <PUBLIC_URL>/v1/webhooks/github/<project id> (the project's webhookUrl). Set it as the webhook's Payload URL in the repository's settings"

/** The webhook receiver, and the history of a project's deliveries. */
export const vcsRoutes = (vcs: Vcs) => async (app: HttpApp) => {
  // The project a delivery's URL names, found before its body is read.
  const claims = new WeakMap<object, Claim>()
  // The signature is over the bytes as sent: this scope keeps bodies raw.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(
      ['application/json', 'application/x-www-form-urlencoded'],
      { parseAs: 'buffer', bodyLimit: maxDeliveryBytes },
      (_request, body, done) => done(null, body),
    )
    scope.post(
      '/webhooks/github/:projectId',
      {
        bodyLimit: maxDeliveryBytes,
        config: {
          auth: {
            public:
              "GitHub calls it; the delivery's signature (X-Hub-Signature-256) with the secret of the project the URL names is checked instead",
          },
        },
        // Before a byte of the body is read: a signature to check, and the project whose secret checks it.
        preParsing: async (request, _reply, payload) => {
          const signature = headerOf(request.headers['x-hub-signature-256'])
          if (signature === undefined)
            throw new AuthenticationError(
              "X-Hub-Signature-256 is missing: configure the webhook with the project's secret",
            )
          if (!signaturePattern.test(signature))
            throw new AuthenticationError('X-Hub-Signature-256 must be sha256=<64 lower-case hex digits>')
          const { projectId } = request.params as { projectId: string }
          const claim = uuidPattern.test(projectId) ? await vcs.claimOf(projectId.toLowerCase()) : undefined
          if (claim === undefined) throw new AuthenticationError(notSignedByProject)
          claims.set(request, claim)
          return payload
        },
        schema: {
          tags,
          summary:
            "Receive a GitHub webhook delivery (JSON or form-encoded) for one project, signed with that project's secret",
          description:
            "The project's webhook URL. The signature is checked over the bytes as sent before they are parsed; a body is read only when it carries a signature and the URL names a project. Deliveries up to 25 MB (GitHub's cap). Until a ping signed with the project's secret names its repository, other deliveries are kept as ignored and cause nothing.",
          params: Type.Object({ projectId: Type.String({ format: 'uuid' }) }),
          headers: Type.Object({
            'x-github-event': Type.String({ minLength: 1, maxLength: 100 }),
            'x-github-delivery': Type.String({ minLength: 1, maxLength: 100 }),
            'x-hub-signature-256': Type.Optional(Type.String({ maxLength: 200 })),
          }),
          response: {
            202: Type.Object({ outcome: Type.String(), detail: Type.String() }),
            200: Type.Object({ duplicate: Type.Literal(true) }),
            400: problemResponse('Signed, but not a JSON payload'),
            401: problemResponse("No signature, or not one of the project's secret (or no such project)"),
            413: problemResponse('Larger than GitHub sends (25 MB)'),
          },
        },
      },
      async (request, reply) => {
        const claim = claims.get(request)
        if (claim === undefined) throw new AuthenticationError(notSignedByProject)
        const result = await vcs.receive(
          claim,
          {
            event: String(request.headers['x-github-event']),
            deliveryId: String(request.headers['x-github-delivery']),
            signature: String(request.headers['x-hub-signature-256']),
            contentType: String(request.headers['content-type'] ?? 'application/json'),
            body: (request.body as Buffer | undefined) ?? Buffer.alloc(0),
          },
          // The request's audit record goes in the delivery's transaction: one commit for both.
          (status) => successAuditOf(request, status, vcs.context),
        )
        auditWritten(request)
        return result.duplicate
          ? reply.code(200).send({ duplicate: true as const })
          : reply.code(202).send({ outcome: result.outcome, detail: result.detail })
      },
    )
    scope.post(
      '/webhooks/github',
      {
        config: {
          auth: { public: 'Retired: it answers where deliveries go now, and reads nothing' },
        },
        onRequest: async () => {
          throw new NotFoundError(sharedUrlRetired)
        },
        schema: {
          tags,
          summary:
            "Retired: the one URL every project was given before each had its own (404, naming the project's webhook URL)",
          response: { 404: problemResponse('Deliveries go to the webhook URL of their project') },
        },
      },
      async () => {
        throw new NotFoundError(sharedUrlRetired)
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
