import { deployManifestJsonSchema } from '@rxt/contracts/manifest'
import { type HttpApp, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import type { Registry } from '../service.ts'
import {
  actorOfRequest,
  Digest,
  errors,
  ProjectParams,
  read,
  Slug,
  Timestamp,
  tags,
  write,
  Yaml,
} from './schemas.ts'

/** deploy.yaml's schema, checking a manifest, and a project's manifests by digest. */
export const manifestRoutes = (registry: Registry) => (app: HttpApp) => {
  const schemaText = deployManifestJsonSchema()
  app.get(
    '/schemas/deploy.json',
    {
      config: { auth: { public: 'the JSON Schema of deploy.yaml is documentation, the same for everyone' } },
      schema: { tags, summary: 'The JSON Schema of deploy.yaml v1', response: { 200: Type.Unknown() } },
    },
    async (_request, reply) => reply.type('application/schema+json').send(schemaText),
  )
  app.post(
    '/manifests/validate',
    {
      config: { auth: { authenticated: true } },
      schema: {
        tags,
        summary:
          'Check a deploy.yaml without storing anything: the manifest with its defaults, and its digest',
        body: Type.Object({ yaml: Yaml }, { additionalProperties: false }),
        response: {
          200: Type.Object({ valid: Type.Literal(true), digest: Digest, manifest: Type.Unknown() }),
          ...errors,
        },
      },
    },
    async (request) => ({ valid: true as const, ...registry.validate(request.body.yaml) }),
  )
  app.post(
    '/projects/:projectId/manifests',
    {
      config: write,
      schema: {
        tags,
        summary: "Record a deploy.yaml in a project's (or an environment's) history; stored once per digest",
        params: ProjectParams,
        body: Type.Object(
          {
            yaml: Yaml,
            environment: Type.Optional(Slug),
            commitSha: Type.Optional(Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            digest: Digest,
            created: Type.Boolean({ description: 'false: this content was stored before' }),
            manifest: Type.Unknown(),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await registry.recordManifest(
            actorOfRequest(request),
            tenantOf(request),
            request.params.projectId,
            request.body,
          ),
        ),
  )
  app.get(
    '/projects/:projectId/manifests',
    {
      config: read,
      schema: {
        tags,
        summary: "A project's manifest history, newest first (the last 1,000), optionally of one environment",
        params: ProjectParams,
        querystring: Type.Object({ environment: Type.Optional(Slug) }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                digest: Digest,
                environment: Type.Union([Type.String(), Type.Null()]),
                commitSha: Type.Union([Type.String(), Type.Null()]),
                recordedBy: Type.String(),
                recordedAt: Timestamp,
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => ({
      items: await registry.history(tenantOf(request), request.params.projectId, request.query.environment),
    }),
  )
  app.get(
    '/manifests/:digest',
    {
      config: read,
      schema: {
        tags,
        summary: 'A manifest by digest: its canonical form, defaults applied',
        params: Type.Object({ digest: Digest }),
        response: {
          200: Type.Object({ digest: Digest, manifest: Type.Unknown(), createdAt: Timestamp }),
          ...errors,
        },
      },
    },
    async (request) => registry.manifest(tenantOf(request), request.params.digest),
  )
  app.get(
    '/manifests/:digest/diff/:otherDigest',
    {
      config: read,
      schema: {
        tags,
        summary: 'What changed from one manifest to another, by JSON pointer',
        params: Type.Object({ digest: Digest, otherDigest: Digest }),
        response: {
          200: Type.Object({
            from: Digest,
            to: Digest,
            changes: Type.Array(
              Type.Object({
                path: Type.String(),
                change: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
                before: Type.Optional(Type.Unknown()),
                after: Type.Optional(Type.Unknown()),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => registry.diff(tenantOf(request), request.params.digest, request.params.otherDigest),
  )
}
