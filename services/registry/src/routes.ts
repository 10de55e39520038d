import { CiSettings } from '@rxt/contracts'
import { deployManifestJsonSchema } from '@rxt/contracts/manifest'
import {
  actorOf,
  type HttpApp,
  Permission,
  type Principal,
  principalOf,
  problemResponse,
  problemResponses,
  tenantOf,
} from '@rxt/kit'
import Type from 'typebox'
import { repositoryForms } from './domain/repository.ts'
import { projectInput, repositoryUrlReadOnly } from './project-input.ts'
import { EnvironmentType, type Registry } from './service.ts'

const Id = Type.String({ format: 'uuid' })
const Slug = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' })
const Branch = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\s~^:?*\\[\\\\]+$' })
const Digest = Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'sha256: of the canonical form' })
const Yaml = Type.String({ minLength: 1, maxLength: 262_144, description: 'The deploy.yaml text' })
const Timestamp = Type.String({ format: 'date-time' })

const Project = Type.Object({
  id: Id,
  slug: Type.String(),
  name: Type.String(),
  repository: Type.Union([Type.String(), Type.Null()], { description: 'owner/name; null: none linked' }),
  repositoryUrl: Type.Union([Type.String(), Type.Null()], {
    description: 'https://github.com/<repository>; null without a repository',
  }),
  repositoryVerifiedAt: Type.Union([Timestamp, Type.Null()], {
    description:
      "When the repository's webhook last proved it reaches this project (a ping signed with the project's secret, naming its repository); null: unverified, and its deliveries cause nothing. A change of repository clears it",
  }),
  webhookUrl: Type.String({
    description:
      "The project's own webhook URL, where GitHub sends its repository's events (the secret is shown at creation and on rotation)",
  }),
  defaultBranch: Type.String(),
  deployBranches: Type.Array(Type.String()),
  webhookGeneration: Type.Integer({ description: 'Which webhook secret is current; a rotation adds one' }),
  deployTags: Type.Boolean(),
  reportBranchDeletions: Type.Boolean(),
  ci: Type.Union([CiSettings, Type.Null()], { description: 'Where its images come from; null: none named' }),
  createdBy: Type.String(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  deletedAt: Type.Union([Timestamp, Type.Null()]),
})
const Webhook = Type.Object(
  {
    url: Type.String({ description: "Where GitHub sends the repository's events" }),
    secret: Type.String({ description: 'Shown once: the secret GitHub signs deliveries with' }),
  },
  { description: "Configure it as the repository's webhook (content type JSON or form)" },
)
const ProjectFields = {
  slug: Slug,
  name: Type.String({ minLength: 1, maxLength: 200 }),
  repository: Type.Union([Type.String({ minLength: 1, maxLength: 300 }), Type.Null()], {
    description: `The GitHub repository: ${repositoryForms} (with or without .git and a trailing slash), kept as owner/name; anything else is answered 400. null: none`,
    examples: ['acme/shop', 'https://github.com/acme/shop'],
  }),
  repositoryUrl: Type.Unknown({
    readOnly: true,
    description: `Read-only: the project's repositoryUrl is made from repository. A request that sends it is answered 400 (${repositoryUrlReadOnly})`,
  }),
  defaultBranch: Branch,
  deployBranches: Type.Array(Branch, { minItems: 1, maxItems: 50, uniqueItems: true }),
  deployTags: Type.Boolean({ description: 'Whether pushing a tag deploys (default: no)' }),
  reportBranchDeletions: Type.Boolean({
    description: 'Whether a deleted branch is reported as evt.branch.deleted (default: no)',
  }),
  ci: Type.Union([CiSettings, Type.Null()], {
    description:
      'The CI workflow that builds the image and the repository it pushes to: a successful run of a commit publishes evt.image.published with <image>:<commit sha>; null: none',
  }),
}
const Environment = Type.Object({
  id: Id,
  projectId: Id,
  name: Type.String(),
  type: Type.String(),
  promotionOrder: Type.Integer(),
  overrides: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
const EnvType = Type.Union(EnvironmentType.map((t) => Type.Literal(t)))
const Overrides = Type.Record(Type.String(), Type.Unknown(), {
  description:
    'deploy.yaml environment overrides: platform, resources, replicas, autoscaling, env, secrets, network',
})
const ProjectParams = Type.Object({ projectId: Id })
const EnvParams = Type.Object({ projectId: Id, envId: Id })
const errors = {
  ...problemResponses,
  422: problemResponse(
    'The manifest (or the overrides) break deploy.yaml: every problem with its path, line and column',
  ),
}
const tags = ['registry']
const read = { auth: { permission: Permission.projectsRead } } as const
const write = { auth: { permission: Permission.projectsWrite } } as const

const actorOfRequest = (request: { principal?: Principal }): string => actorOf(principalOf(request))

/** The registry's HTTP API under /v1; organisations come from X-Rxt-Org or the caller's only one. */
export const registryRoutes = (registry: Registry) => (app: HttpApp) => {
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
    '/admin/registry/purge',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary: 'Purge now what was deleted over 30 days ago (it runs every hour by itself)',
        response: { 200: Type.Object({ purged: Type.Integer() }), ...errors },
      },
    },
    async () => ({ purged: await registry.purge() }),
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
    '/projects',
    {
      config: { ...write, shownOnce: true },
      schema: {
        tags,
        summary: 'Create a project',
        body: Type.Object(
          {
            slug: ProjectFields.slug,
            name: ProjectFields.name,
            repository: Type.Optional(ProjectFields.repository),
            repositoryUrl: Type.Optional(ProjectFields.repositoryUrl),
            defaultBranch: Type.Optional(ProjectFields.defaultBranch),
            deployBranches: Type.Optional(ProjectFields.deployBranches),
            deployTags: Type.Optional(ProjectFields.deployTags),
            reportBranchDeletions: Type.Optional(ProjectFields.reportBranchDeletions),
            ci: Type.Optional(ProjectFields.ci),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ ...Project.properties, webhook: Webhook }), ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await registry.createProject(
            actorOfRequest(request),
            tenantOf(request),
            projectInput(request.body),
          ),
        ),
  )
  app.get(
    '/projects',
    {
      config: read,
      schema: {
        tags,
        summary: "The organisation's projects; deleted ones (restorable for 30 days) with includeDeleted",
        querystring: Type.Object({ includeDeleted: Type.Optional(Type.Boolean({ default: false })) }),
        response: { 200: Type.Object({ items: Type.Array(Project) }), ...errors },
      },
    },
    async (request) => ({ items: await registry.projects(tenantOf(request), request.query.includeDeleted) }),
  )
  app.get(
    '/projects/:projectId',
    {
      config: read,
      schema: { tags, summary: 'A project', params: ProjectParams, response: { 200: Project, ...errors } },
    },
    async (request) => registry.project(tenantOf(request), request.params.projectId),
  )
  app.patch(
    '/projects/:projectId',
    {
      config: write,
      schema: {
        tags,
        summary: 'Change a project',
        params: ProjectParams,
        body: Type.Partial(Type.Object(ProjectFields), { additionalProperties: false, minProperties: 1 }),
        response: { 200: Project, ...errors },
      },
    },
    async (request) =>
      registry.updateProject(
        actorOfRequest(request),
        tenantOf(request),
        request.params.projectId,
        projectInput(request.body),
      ),
  )
  app.delete(
    '/projects/:projectId',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete a project and its environments; restorable for 30 days, then purged',
        params: ProjectParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await registry.deleteProject(actorOfRequest(request), tenantOf(request), request.params.projectId)
      return reply.code(204).send(null)
    },
  )
  app.post(
    '/projects/:projectId/webhook/rotate',
    {
      config: { ...write, shownOnce: true },
      schema: {
        tags,
        summary: 'A new webhook secret for the project (shown once); the old one stops verifying at once',
        params: ProjectParams,
        response: { 200: Webhook, ...errors },
      },
    },
    async (request) =>
      registry.rotateWebhook(actorOfRequest(request), tenantOf(request), request.params.projectId),
  )
  app.post(
    '/projects/:projectId/restore',
    {
      config: write,
      schema: {
        tags,
        summary: 'Restore a deleted project, with the environments deleted with it',
        params: ProjectParams,
        response: { 200: Project, ...errors },
      },
    },
    async (request) =>
      registry.restoreProject(actorOfRequest(request), tenantOf(request), request.params.projectId),
  )
  app.post(
    '/projects/:projectId/environments',
    {
      config: write,
      schema: {
        tags,
        summary: 'Add an environment to a project',
        params: ProjectParams,
        body: Type.Object(
          {
            name: Slug,
            type: EnvType,
            promotionOrder: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
            overrides: Type.Optional(Overrides),
          },
          { additionalProperties: false },
        ),
        response: { 201: Environment, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await registry.createEnvironment(
            actorOfRequest(request),
            tenantOf(request),
            request.params.projectId,
            request.body,
          ),
        ),
  )
  app.get(
    '/projects/:projectId/environments',
    {
      config: read,
      schema: {
        tags,
        summary: "A project's environments, in promotion order",
        params: ProjectParams,
        response: { 200: Type.Object({ items: Type.Array(Environment) }), ...errors },
      },
    },
    async (request) => ({ items: await registry.environments(tenantOf(request), request.params.projectId) }),
  )
  app.get(
    '/projects/:projectId/environments/:envId',
    {
      config: read,
      schema: {
        tags,
        summary: 'An environment',
        params: EnvParams,
        response: { 200: Environment, ...errors },
      },
    },
    async (request) =>
      registry.environment(tenantOf(request), request.params.projectId, request.params.envId),
  )
  app.patch(
    '/projects/:projectId/environments/:envId',
    {
      config: write,
      schema: {
        tags,
        summary: "Change an environment's type, promotion order or overrides",
        params: EnvParams,
        body: Type.Object(
          {
            type: Type.Optional(EnvType),
            promotionOrder: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
            overrides: Type.Optional(Overrides),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Environment, ...errors },
      },
    },
    async (request) =>
      registry.updateEnvironment(
        actorOfRequest(request),
        tenantOf(request),
        request.params.projectId,
        request.params.envId,
        request.body,
      ),
  )
  app.delete(
    '/projects/:projectId/environments/:envId',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete an environment (purged after 30 days)',
        params: EnvParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await registry.deleteEnvironment(
        actorOfRequest(request),
        tenantOf(request),
        request.params.projectId,
        request.params.envId,
      )
      return reply.code(204).send(null)
    },
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
