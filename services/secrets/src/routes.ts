import { type HttpApp, Permission, principalOf, problemResponses, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import { maxValueBytes, type Secrets } from './service.ts'

const tags = ['secrets']
const errors = problemResponses
const IdOf = (description: string) =>
  Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$', description })
const SecretName = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[a-z0-9][a-z0-9._/-]*$',
  description: 'What deploy.yaml names it by: secret://<name> (e.g. db/url)',
})
const Value = Type.String({
  minLength: 1,
  maxLength: maxValueBytes,
  description: `The value (write-only: never shown again), at most ${maxValueBytes} bytes of UTF-8`,
})
const Version = Type.Object({
  version: Type.Integer({ minimum: 1 }),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
})
const secretFields = {
  id: Type.String({ description: 'The secret' }),
  name: Type.String(),
  ref: Type.String({ description: 'secret://<name>: what deploy.yaml writes' }),
  projectId: Type.String(),
  envId: Type.Union([Type.String(), Type.Null()], {
    description: "The environment it belongs to; null: the project's, for every environment",
  }),
  scope: Type.Union([Type.Literal('project'), Type.Literal('environment')]),
  currentVersion: Type.Integer({ minimum: 1 }),
  redeployOnRotation: Type.Boolean(),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
}
const Secret = Type.Object(secretFields)
const SecretDetail = Type.Object({
  ...secretFields,
  versions: Type.Array(Version, { description: 'The versions kept (the last 5), newest first; no value' }),
})
const SecretParams = Type.Object({ secretId: Type.String({ minLength: 1, maxLength: 64 }) })

/** The secrets HTTP API under /v1: tenant-scoped; values are written here and read by adapters only. */
export const secretsRoutes = (secrets: Secrets) => (app: HttpApp) => {
  const reads = { auth: { permission: Permission.secretsRead } } as const
  const writes = { auth: { permission: Permission.secretsWrite } } as const
  app.post(
    '/secrets',
    {
      config: writes,
      schema: {
        tags,
        summary:
          "Store a secret of a project (every environment) or of one environment; its value is write-only. The environment's secret of a name is used before the project's",
        body: Type.Object(
          {
            name: SecretName,
            projectId: IdOf('The project (registry)'),
            envId: Type.Optional(IdOf("One environment of the project; absent: the project's secret")),
            value: Value,
            redeployOnRotation: Type.Optional(
              Type.Boolean({
                description:
                  'Whether a rotation asks to redeploy the environments running an earlier version (default false: they get it on their next deploy)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: SecretDetail, ...errors },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await secrets.create(principalOf(request), tenantOf(request), request.body)),
  )
  app.get(
    '/secrets',
    {
      config: reads,
      schema: {
        tags,
        summary: "The organisation's secrets (metadata only), by project and environment when asked",
        querystring: Type.Object(
          {
            projectId: Type.Optional(IdOf('Only this project')),
            envId: Type.Optional(IdOf("Only this environment's (not the project's)")),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Secret) }), ...errors },
      },
    },
    async (request) => secrets.list(tenantOf(request), request.query),
  )
  app.get(
    '/secrets/:secretId',
    {
      config: reads,
      schema: {
        tags,
        summary: 'A secret and the versions kept; never a value',
        params: SecretParams,
        response: { 200: SecretDetail, ...errors },
      },
    },
    async (request) => secrets.get(tenantOf(request), request.params.secretId),
  )
  app.delete(
    '/secrets/:secretId',
    {
      config: writes,
      schema: {
        tags,
        summary: 'Delete a secret and its values: deployments that name it are refused until it exists again',
        params: SecretParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await secrets.remove(principalOf(request), tenantOf(request), request.params.secretId)
      return reply.code(204).send(null)
    },
  )
  app.post(
    '/secrets/:secretId/rotate',
    {
      config: writes,
      schema: {
        tags,
        summary:
          'A new value as the current version (the last 5 kept); published as evt.secret.rotated, naming the environments to redeploy when the secret asks for it',
        params: SecretParams,
        body: Type.Object({ value: Value }, { additionalProperties: false }),
        response: { 200: SecretDetail, ...errors },
      },
    },
    async (request) =>
      secrets.rotate(principalOf(request), tenantOf(request), request.params.secretId, request.body.value),
  )
  app.get(
    '/secrets/grants/:grantId/values',
    {
      // Weighed in the handler, after the grant is found: another organisation's grant is absent (404)
      // to everyone; then only a service credential holding secrets:deliver reads it (403).
      config: { auth: { authenticated: true } },
      schema: {
        tags,
        summary:
          "A live grant's values, for the platform adapters' service credentials (secrets:deliver) only; each value read is recorded as evt.secret.accessed. Not cached",
        params: Type.Object({ grantId: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: {
          200: Type.Object({
            deploymentId: Type.String(),
            envId: Type.String(),
            expiresAt: Type.String({ format: 'date-time' }),
            values: Type.Array(
              Type.Object({
                ref: Type.String(),
                version: Type.Integer({ minimum: 1 }),
                value: Type.String(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const answer = await secrets.grantValues(
        principalOf(request),
        tenantOf(request),
        request.params.grantId,
      )
      return reply.header('cache-control', 'no-store').send(answer)
    },
  )
}
