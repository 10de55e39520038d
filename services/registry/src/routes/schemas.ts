// The schemas and route options the registry routes share.
import { CiSettings } from '@rxt/contracts'
import { actorOf, Permission, type Principal, principalOf, problemResponse, problemResponses } from '@rxt/kit'
import Type from 'typebox'
import { repositoryForms } from '../domain/repository.ts'
import { repositoryUrlReadOnly } from '../project-input.ts'
import { EnvironmentType } from '../service.ts'

export const Id = Type.String({ format: 'uuid' })
export const Slug = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' })
export const Branch = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\s~^:?*\\[\\\\]+$' })
export const Digest = Type.String({
  pattern: '^sha256:[0-9a-f]{64}$',
  description: 'sha256: of the canonical form',
})
export const Yaml = Type.String({ minLength: 1, maxLength: 262_144, description: 'The deploy.yaml text' })
export const Timestamp = Type.String({ format: 'date-time' })

export const Project = Type.Object({
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
export const Webhook = Type.Object(
  {
    url: Type.String({ description: "Where GitHub sends the repository's events" }),
    secret: Type.String({ description: 'Shown once: the secret GitHub signs deliveries with' }),
  },
  { description: "Configure it as the repository's webhook (content type JSON or form)" },
)
export const ProjectFields = {
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
export const Environment = Type.Object({
  id: Id,
  projectId: Id,
  name: Type.String(),
  type: Type.String(),
  promotionOrder: Type.Integer(),
  overrides: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export const EnvType = Type.Union(EnvironmentType.map((t) => Type.Literal(t)))
export const Overrides = Type.Record(Type.String(), Type.Unknown(), {
  description:
    'deploy.yaml environment overrides: platform, resources, replicas, autoscaling, env, secrets, network',
})
export const ProjectParams = Type.Object({ projectId: Id })
export const EnvParams = Type.Object({ projectId: Id, envId: Id })
export const errors = {
  ...problemResponses,
  422: problemResponse(
    'The manifest (or the overrides) break deploy.yaml: every problem with its path, line and column',
  ),
}
export const tags = ['registry']
export const read = { auth: { permission: Permission.projectsRead } } as const
export const write = { auth: { permission: Permission.projectsWrite } } as const

export const actorOfRequest = (request: { principal?: Principal }): string => actorOf(principalOf(request))
