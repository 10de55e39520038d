import {
  actorOf,
  type HttpApp,
  InputError,
  Permission,
  principalOf,
  problemResponse,
  problemResponses,
  tenantOf,
} from '@rxt/kit'
import Type from 'typebox'
import { maxBundleBytes } from './domain/bundle.ts'
import { defaultTtlMinutes, maxTtlMinutes, type Policy, type Viewer } from './service.ts'

const tags = ['policy']
const errors = problemResponses
const PolicyName = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[a-z0-9_]+(\\.[a-z0-9_]+)*$',
  description: 'A Rego package, e.g. rxt.compliance.pci',
})
const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' })
const Revision = Type.String({ minLength: 1, maxLength: 128, pattern: '^sha256:[a-f0-9]{64}$' })
const Violation = Type.Object({ policy: Type.String(), message: Type.String() })
const Finding = Type.Object({
  policy: Type.String(),
  rule: Type.String(),
  severity: Type.String(),
  message: Type.String(),
})
const Decision = Type.Object({
  decisionId: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  entity: Type.Union([Type.String(), Type.Null()]),
  inputDigest: Type.String({ description: 'sha256 of the canonical input, secret-looking values masked' }),
  bundleRevision: Type.String(),
  allow: Type.Boolean(),
  violations: Type.Array(Finding),
  waived: Type.Array(Type.Object({ ...Finding.properties, overrideId: Type.String() })),
  warnings: Type.Array(Finding, { description: 'Findings that did not refuse' }),
  latencyUs: Type.Integer({ description: 'Microseconds the evaluation took' }),
  decidedAt: Type.String({ format: 'date-time' }),
})
const Bundle = Type.Object({
  revision: Type.String({ description: 'sha256 of the archive' }),
  size: Type.Integer(),
  entrypoints: Type.Array(Type.String()),
  shipped: Type.Boolean({ description: 'The bundle of the release' }),
  uploadedBy: Type.String(),
  uploadedAt: Type.String({ format: 'date-time' }),
  active: Type.Boolean(),
})
const Override = Type.Object({
  id: Type.String(),
  deploymentId: Type.String(),
  policies: Type.Array(Type.String()),
  reason: Type.String(),
  ttlMinutes: Type.Integer(),
  status: Type.Union([Type.Literal('requested'), Type.Literal('approved'), Type.Literal('rejected')]),
  requestedBy: Type.String(),
  decidedBy: Type.Union([Type.String(), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
})

const viewerOf = (request: Parameters<typeof principalOf>[0]): Viewer => {
  const principal = principalOf(request)
  return { actor: actorOf(principal), userId: principal.userId }
}

/** Policy's HTTP API under /v1: decisions, their record, bundles (operators) and break-glass overrides. */
export const policyRoutes = (policy: Policy) => async (app: HttpApp) => {
  const reads = { auth: { permission: Permission.deploymentsRead } } as const
  app.post(
    '/evaluate',
    {
      config: reads,
      schema: {
        tags,
        summary: "A decision of the active policy bundle for the caller's organisation (stored)",
        description:
          'The input is what the policies read (input of rxt/decision/result); input.tenant (the organisation and its plan) and input.action are set by the server. Nothing is deployed; the decision is kept with the bundle revision that made it.',
        body: Type.Object(
          {
            subject: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            action: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9._-]*$' }),
            entity: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            input: Type.Record(Type.String(), Type.Unknown()),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            allow: Type.Boolean(),
            violations: Type.Array(Violation),
            warnings: Type.Array(Violation, {
              description: 'What is worth fixing and did not refuse (limits unset: the defaults apply)',
            }),
            bundleRevision: Type.String(),
            decisionId: Type.String(),
          }),
          ...errors,
        },
      },
    },
    async (request) => policy.evaluate(viewerOf(request), tenantOf(request), request.body),
  )
  app.get(
    '/policy/decisions',
    {
      config: reads,
      schema: {
        tags,
        summary: "The organisation's policy decisions, newest first",
        querystring: Type.Object(
          {
            action: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            allow: Type.Optional(Type.Boolean()),
            since: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
            cursor: Type.Optional(Id),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Decision),
            next: Type.Union([Type.String(), Type.Null()], { description: 'The cursor of the next page' }),
          }),
          ...errors,
        },
      },
    },
    async (request) => policy.decisions(tenantOf(request), request.query),
  )
  app.get(
    '/policy/bundles',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary: 'The policy bundles stored (the shipped one and uploads) and which is active',
        response: { 200: Type.Object({ items: Type.Array(Bundle) }), ...errors },
      },
    },
    async () => ({ items: await policy.bundles.list() }),
  )
  await app.register(async (scope) => {
    // The archive as sent, and nothing else: JSON or a form is refused (415) before the handler.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(
      ['application/gzip', 'application/x-gzip', 'application/octet-stream'],
      { parseAs: 'buffer', bodyLimit: maxBundleBytes },
      (_request, body, done) => done(null, body),
    )
    scope.post(
      '/policy/bundles',
      {
        bodyLimit: maxBundleBytes,
        config: { auth: { operator: true } },
        schema: {
          tags,
          summary: 'Upload a policy bundle (opa build -t wasm -e rxt/decision/result output, tar.gz)',
          description:
            'The body is the archive (Content-Type: application/gzip). It is kept by its sha256 once its WebAssembly module loads and answers rxt/decision/result; it decides nothing until activated.',
          response: {
            200: Bundle,
            201: Bundle,
            422: problemResponse('The upload is not a bundle this context can evaluate'),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const body = request.body
        if (!Buffer.isBuffer(body))
          throw new InputError(
            'send the archive opa build wrote as the body, with Content-Type: application/gzip',
          )
        const { bundle, created } = await policy.bundles.upload(
          viewerOf(request).actor,
          new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
        )
        return reply.code(created ? 201 : 200).send(bundle)
      },
    )
  })
  app.post(
    '/policy/bundles/:revision/activate',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary: 'Make a stored bundle the one every replica decides with (no restart)',
        params: Type.Object({ revision: Revision }),
        response: { 200: Bundle, ...errors },
      },
    },
    async (request) => policy.bundles.activate(viewerOf(request).actor, request.params.revision),
  )
  app.post(
    '/policy/overrides',
    {
      config: { auth: { permission: Permission.deploymentsWrite } },
      schema: {
        tags,
        summary: 'Ask for a break-glass override: named policies waived for one deployment, once approved',
        body: Type.Object(
          {
            deploymentId: Id,
            policies: Type.Array(PolicyName, { minItems: 1, maxItems: 20 }),
            reason: Type.String({ minLength: 10, maxLength: 1000, description: 'Why, for the record' }),
            ttlMinutes: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: maxTtlMinutes,
                description: `How long an approval lasts (default ${defaultTtlMinutes})`,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Override, ...errors },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await policy.requestOverride(viewerOf(request), tenantOf(request), request.body)),
  )
  app.get(
    '/policy/overrides',
    {
      config: reads,
      schema: {
        tags,
        summary: "The organisation's break-glass overrides, newest first",
        querystring: Type.Object({ deploymentId: Type.Optional(Id) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Override) }), ...errors },
      },
    },
    async (request) => ({ items: await policy.overrides(tenantOf(request), request.query.deploymentId) }),
  )
  app.post(
    '/policy/overrides/:overrideId/approve',
    {
      config: { auth: { permission: Permission.policyOverride } },
      schema: {
        tags,
        summary:
          'Approve a break-glass override (another person than the requester, holding policy:override)',
        params: Type.Object({ overrideId: Id }),
        response: { 200: Override, ...errors },
      },
    },
    async (request) =>
      policy.approveOverride(viewerOf(request), tenantOf(request), request.params.overrideId),
  )
  app.post(
    '/policy/overrides/:overrideId/reject',
    {
      config: { auth: { permission: Permission.policyOverride } },
      schema: {
        tags,
        summary: 'Reject a break-glass override: the policies keep applying',
        params: Type.Object({ overrideId: Id }),
        body: Type.Optional(
          Type.Object(
            { note: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: Override, ...errors },
      },
    },
    async (request) =>
      policy.rejectOverride(
        viewerOf(request),
        tenantOf(request),
        request.params.overrideId,
        request.body?.note,
      ),
  )
}
