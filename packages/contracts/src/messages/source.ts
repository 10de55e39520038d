import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  artifactRefField,
  canonicalManifestField,
  closedObject,
  commitShaField,
  digestField,
  idField,
  imageRepositoryField,
  nameField,
  repoFullNameField,
  slugField,
  textField,
  timestampField,
  urlField,
  workflowFileField,
} from '../fields.ts'
import { RunnersEnsureMessage, RunnersReadyMessage, TemplatePublishedMessage } from './runners.ts'

/** From source to artifact: projects and repositories, pushes and pull requests, builds, runners, templates. */

const projectId = () => idField('The project')
const gitRef = (description: string) => Type.String({ minLength: 1, maxLength: 255, description })
const gitLogin = (description: string) =>
  Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.\\[\\]-]*$', description })
const vcsProvider = () => Type.Union([Type.Literal('github')], { description: 'The VCS provider' })

/** Where a project's images come from: the CI workflow that builds them and the repository it pushes to. */
export const CiSettings = closedObject(
  {
    workflow: workflowFileField('The workflow that builds and pushes the image when it succeeds'),
    image: imageRepositoryField('Where it pushes; a successful run of a commit built <image>:<commit sha>'),
  },
  { description: "The project's CI: a successful run of the workflow built <image>:<commit sha>" },
)
export type CiSettings = Static<typeof CiSettings>
const ciField = () =>
  Type.Union([CiSettings, Type.Null()], { description: 'null: the project names no CI workflow' })

export const ProjectCreated = closedObject({
  projectId: projectId(),
  slug: slugField('URL-safe project name, unique in the tenant'),
  name: nameField('Display name'),
  repo: Type.Union([repoFullNameField(), Type.Null()], {
    description: 'The linked repository, or null until one is linked',
  }),
  createdBy: idField('The user who created it'),
  deployBranches: Type.Optional(
    Type.Array(gitRef('A branch whose pushes deploy'), {
      maxItems: 50,
      description: 'Pushes to these deploy',
    }),
  ),
  webhookGeneration: Type.Optional(
    Type.Integer({
      minimum: 1,
      description: "Which of the project's webhook secrets is current (1 at first)",
    }),
  ),
  deployTags: Type.Optional(Type.Boolean({ description: 'Whether pushing a tag deploys (default: no)' })),
  reportBranchDeletions: Type.Optional(
    Type.Boolean({ description: 'Whether a deleted branch is reported as evt.branch.deleted (default: no)' }),
  ),
  ci: Type.Optional(ciField()),
})
export type ProjectCreated = Static<typeof ProjectCreated>

/** An environment as evt.project.updated shows it, with its deploy.yaml overrides and their digest. */
const EnvironmentSummary = closedObject({
  id: idField('The environment'),
  name: slugField('Its name'),
  type: Type.Union([
    Type.Literal('preview'),
    Type.Literal('development'),
    Type.Literal('staging'),
    Type.Literal('production'),
  ]),
  promotionOrder: Type.Integer({ minimum: 0, maximum: 1000 }),
  overridesDigest: digestField('sha256: of the canonical JSON of its deploy.yaml overrides'),
  overrides: Type.Optional(
    Type.String({
      minLength: 2,
      maxLength: 65_536,
      description: 'Its deploy.yaml overrides in canonical JSON (RFC 8785), as the registry validated them',
    }),
  ),
})

/** The changed fields of a project, each with its value (before or after the change). */
const ProjectChange = (description: string) =>
  closedObject(
    {
      slug: Type.Optional(slugField('URL-safe project name')),
      name: Type.Optional(nameField('Display name')),
      repository: Type.Optional(Type.Union([repoFullNameField(), Type.Null()])),
      repositoryUrl: Type.Optional(Type.Union([urlField('The repository URL'), Type.Null()])),
      defaultBranch: Type.Optional(gitRef('The default branch')),
      deployBranches: Type.Optional(Type.Array(gitRef('A branch pushes to which deploy'), { maxItems: 50 })),
      webhookGeneration: Type.Optional(
        Type.Integer({ minimum: 1, description: 'Which webhook secret is current; a rotation adds one' }),
      ),
      deployTags: Type.Optional(Type.Boolean()),
      reportBranchDeletions: Type.Optional(Type.Boolean()),
      ci: Type.Optional(ciField()),
      deletedAt: Type.Optional(
        Type.Union([timestampField('When it was deleted'), Type.Null()], {
          description: 'null: not deleted',
        }),
      ),
      environments: Type.Optional(
        Type.Array(Type.Union([EnvironmentSummary, Type.Null()]), {
          maxItems: 100,
          description:
            'The environments of envIds, in that order; null where one did not exist (before) or was removed (after)',
        }),
      ),
    },
    { description },
  )

export const ProjectUpdated = closedObject({
  projectId: projectId(),
  changed: Type.Array(
    Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[a-z][A-Za-z0-9.]*$',
      description: 'A field name',
    }),
    {
      minItems: 1,
      maxItems: 50,
      uniqueItems: true,
      description: 'The fields that changed; read the project for values',
    },
  ),
  envIds: Type.Array(idField('An environment'), {
    maxItems: 100,
    uniqueItems: true,
    description: 'Environments created, changed or removed by this update',
  }),
  before: ProjectChange('Each changed field as it was'),
  after: ProjectChange('Each changed field as it is now'),
  updatedBy: idField('Who changed it: user:<id>, api-key:<id> or service:<name>'),
})
export type ProjectUpdated = Static<typeof ProjectUpdated>

export const RepoVerified = closedObject({
  projectId: projectId(),
  provider: vcsProvider(),
  repo: repoFullNameField(),
  installationId: idField('The VCS app installation that grants access'),
  defaultBranch: gitRef('The default branch'),
})
export type RepoVerified = Static<typeof RepoVerified>

export const CommitPushed = closedObject({
  projectId: Type.Optional(projectId()),
  provider: vcsProvider(),
  repo: repoFullNameField(),
  deliveryId: idField('The webhook delivery id (dedupe key)'),
  ref: gitRef('The full ref pushed, e.g. refs/heads/main'),
  commitSha: commitShaField('The new head commit'),
  beforeSha: Type.Union([commitShaField('The previous head commit'), Type.Null()], {
    description: 'The previous head, or null for a new branch',
  }),
  pusher: gitLogin('Login of who pushed'),
  author: Type.Optional(
    Type.String({ minLength: 1, maxLength: 256, description: 'Name of the head commit author' }),
  ),
  message: textField('Head commit message, truncated', 1000),
  pushedAt: timestampField('When the push happened'),
})
export type CommitPushed = Static<typeof CommitPushed>

export const PrOpened = closedObject({
  projectId: Type.Optional(projectId()),
  provider: vcsProvider(),
  repo: repoFullNameField(),
  number: Type.Integer({ minimum: 1, description: 'Pull request number' }),
  title: textField('Title', 256),
  author: gitLogin('Login of the author'),
  headRef: gitRef('Source branch'),
  headSha: commitShaField('Head commit of the source branch'),
  baseRef: gitRef('Target branch'),
  url: urlField('The pull request page'),
})
export type PrOpened = Static<typeof PrOpened>

export const BranchDeleted = closedObject({
  projectId: projectId(),
  provider: vcsProvider(),
  repo: repoFullNameField(),
  deliveryId: idField('The webhook delivery id (dedupe key)'),
  ref: gitRef('The full ref deleted, e.g. refs/heads/feature/checkout'),
  pusher: gitLogin('Login of who deleted it'),
})
export type BranchDeleted = Static<typeof BranchDeleted>

/** New commits on an open pull request's branch. */
export const PrSynchronized = PrOpened
export type PrSynchronized = PrOpened

export const PrClosed = closedObject({
  ...PrOpened.properties,
  merged: Type.Boolean({ description: 'Whether it was merged (else closed without merging)' }),
})
export type PrClosed = Static<typeof PrClosed>

export const ImagePublished = closedObject({
  projectId: projectId(),
  provider: vcsProvider(),
  repo: repoFullNameField(),
  deliveryId: idField('The webhook delivery id (dedupe key)'),
  source: Type.Union([Type.Literal('workflow_run'), Type.Literal('package')], {
    description:
      "workflow_run: the project's CI workflow succeeded (the image is <ci.image>:<commit>); package: the registry reported the image by digest",
  }),
  image: artifactRefField(
    'The image reference CI built: by tag (workflow_run) or pinned by digest (package)',
  ),
  repository: imageRepositoryField('The image repository'),
  tag: Type.Union(
    [Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' }), Type.Null()],
    {
      description: 'The tag, or null when only the digest is known',
    },
  ),
  digest: Type.Union([digestField('The image manifest digest'), Type.Null()], {
    description: 'The digest, or null until the image is resolved in the registry (workflow_run)',
  }),
  commitSha: Type.Union([commitShaField('The commit built'), Type.Null()], {
    description: 'The commit built, or null when the registry did not say',
  }),
  branch: Type.Union([gitRef('The branch built'), Type.Null()], { description: 'null when not known' }),
  url: urlField('The workflow run or the package version page'),
  publishedAt: timestampField('When CI finished or the registry received it'),
})
export type ImagePublished = Static<typeof ImagePublished>

export const CiFailed = closedObject({
  projectId: projectId(),
  provider: vcsProvider(),
  repo: repoFullNameField(),
  deliveryId: idField('The webhook delivery id (dedupe key)'),
  workflow: workflowFileField('The workflow that ran'),
  runId: Type.Integer({ minimum: 1, description: 'The workflow run' }),
  commitSha: commitShaField('The commit it ran on'),
  branch: Type.Union([gitRef('The branch it ran on'), Type.Null()], { description: 'null when not known' }),
  conclusion: Type.String({
    minLength: 1,
    maxLength: 40,
    pattern: '^[a-z_]+$',
    description: 'How it ended: failure, cancelled, timed_out, action_required, startup_failure, …',
  }),
  url: urlField('The workflow run'),
  completedAt: timestampField('When it ended'),
})
export type CiFailed = Static<typeof CiFailed>

export const BuildSucceeded = closedObject({
  buildId: idField('The build'),
  projectId: projectId(),
  commitSha: commitShaField('The commit built'),
  artifactRef: artifactRefField('The image pushed, pinned by digest'),
  digest: digestField('Digest of the image (or its index for multi-arch)'),
  multiArch: Type.Boolean({ description: 'Whether the artifact is a multi-architecture index' }),
  architectures: Type.Array(Type.Union([Type.Literal('amd64'), Type.Literal('arm64')]), {
    minItems: 1,
    maxItems: 2,
    uniqueItems: true,
    description: 'The architectures built',
  }),
  durationMs: Type.Integer({ minimum: 0, description: 'How long the build took' }),
})
export type BuildSucceeded = Static<typeof BuildSucceeded>

export const BuildFailed = closedObject({
  buildId: idField('The build'),
  projectId: projectId(),
  commitSha: commitShaField('The commit built'),
  reason: textField('What went wrong, for people (the log has the detail)'),
  logUrl: urlField('Where the build log is'),
})
export type BuildFailed = Static<typeof BuildFailed>

const sha = '9fceb02d0ae598e95dc970b74767f19372d61af8'
const digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** The pull request every pull request fixture is about. */
const pullRequest: PrOpened = {
  provider: 'github',
  repo: 'acme/shop',
  number: 42,
  title: 'Add checkout page',
  author: 'ada',
  headRef: 'feature/checkout',
  headSha: sha,
  baseRef: 'main',
  url: 'https://github.com/acme/shop/pull/42',
}

export const ProjectCreatedMessage = defineMessage({
  type: 'evt.project.created',
  version: 1,
  kind: MessageKind.event,
  summary: 'A project was created',
  publishedBy: 'registry',
  schema: ProjectCreated,
  fixture: { projectId: 'prj_shop', slug: 'shop', name: 'Shop', repo: 'acme/shop', createdBy: 'usr_ada' },
})

/** An environment's deploy.yaml as the registry recorded it: what its next deploy, manual or pushed, uses. */
export const ManifestRecorded = closedObject({
  projectId: projectId(),
  envId: idField('The environment whose manifest it now is'),
  environment: slugField("The environment's name"),
  manifest: canonicalManifestField(),
  manifestDigest: digestField('sha256: of the canonical manifest'),
  commitSha: Type.Union([commitShaField('The commit it came from'), Type.Null()], {
    description: 'null: recorded through the API with no commit',
  }),
  recordedBy: idField('Who recorded it: user:<id>, api-key:<id> or service:<name>'),
})
export type ManifestRecorded = Static<typeof ManifestRecorded>

const recordedManifest =
  '{"apiVersion":"rxt-deploy/v1","kind":"Application","metadata":{"name":"shop"},"spec":{"image":"ghcr.io/acme/shop:1.4.2"}}'

export const ManifestRecordedMessage = defineMessage({
  type: 'evt.manifest.recorded',
  version: 1,
  kind: MessageKind.event,
  summary: "An environment's deploy.yaml was recorded in its history: it is the environment's manifest now",
  publishedBy: 'registry',
  schema: ManifestRecorded,
  fixture: {
    projectId: 'prj_shop',
    envId: 'env_prod',
    environment: 'production',
    manifest: recordedManifest,
    manifestDigest: `sha256:${createHash('sha256').update(recordedManifest).digest('hex')}`,
    commitSha: '9fceb02d0ae598e95dc970b74767f19372d61af8',
    recordedBy: 'user:usr_ada',
  },
})

export const ProjectUpdatedMessage = defineMessage({
  type: 'evt.project.updated',
  version: 2,
  kind: MessageKind.event,
  summary: 'A project or its environments changed',
  publishedBy: 'registry',
  schema: ProjectUpdated,
  fixture: {
    projectId: 'prj_shop',
    changed: ['name', 'environments'],
    envIds: ['env_staging'],
    before: { name: 'Shop', environments: [null] },
    after: {
      name: 'The Shop',
      environments: [
        {
          id: 'env_staging',
          name: 'staging',
          type: 'staging',
          promotionOrder: 0,
          overridesDigest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        },
      ],
    },
    updatedBy: 'user:usr_ada',
  },
})

export const RepoVerifiedMessage = defineMessage({
  type: 'evt.repo.verified',
  version: 1,
  kind: MessageKind.event,
  summary: 'RXT Deploy can read a repository and receives its webhooks',
  publishedBy: 'vcs',
  schema: RepoVerified,
  fixture: {
    projectId: 'prj_shop',
    provider: 'github',
    repo: 'acme/shop',
    installationId: '41235813',
    defaultBranch: 'main',
  },
})

export const CommitPushedMessage = defineMessage({
  type: 'evt.commit.pushed',
  version: 1,
  kind: MessageKind.event,
  summary: 'Commits were pushed to a repository (from a verified webhook)',
  publishedBy: 'vcs',
  schema: CommitPushed,
  fixture: {
    provider: 'github',
    repo: 'acme/shop',
    deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    ref: 'refs/heads/main',
    commitSha: sha,
    beforeSha: null,
    pusher: 'ada',
    message: 'Add checkout page',
    pushedAt: '2025-06-01T11:55:00Z',
  },
})

export const BranchDeletedMessage = defineMessage({
  type: 'evt.branch.deleted',
  version: 1,
  kind: MessageKind.event,
  summary: 'A branch was deleted (reported when the project asks for it, e.g. to remove its environment)',
  publishedBy: 'vcs',
  schema: BranchDeleted,
  fixture: {
    projectId: 'prj_shop',
    provider: 'github',
    repo: 'acme/shop',
    deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0959',
    ref: 'refs/heads/feature/checkout',
    pusher: 'ada',
  },
})

export const PrOpenedMessage = defineMessage({
  type: 'evt.pr.opened',
  version: 1,
  kind: MessageKind.event,
  summary: 'A pull request was opened',
  publishedBy: 'vcs',
  schema: PrOpened,
  fixture: pullRequest,
})

export const PrSynchronizedMessage = defineMessage({
  type: 'evt.pr.synchronized',
  version: 1,
  kind: MessageKind.event,
  summary: "New commits were pushed to an open pull request's branch",
  publishedBy: 'vcs',
  schema: PrSynchronized,
  fixture: pullRequest,
})

export const PrClosedMessage = defineMessage({
  type: 'evt.pr.closed',
  version: 1,
  kind: MessageKind.event,
  summary: 'A pull request was closed, merged or not (its preview environment can go)',
  publishedBy: 'vcs',
  schema: PrClosed,
  fixture: { ...pullRequest, merged: true },
})

export const ImagePublishedMessage = defineMessage({
  type: 'evt.image.published',
  version: 1,
  kind: MessageKind.event,
  summary: "CI built and pushed a project's image (its workflow succeeded, or the registry reported it)",
  publishedBy: 'vcs',
  schema: ImagePublished,
  fixture: {
    projectId: 'prj_shop',
    provider: 'github',
    repo: 'acme/shop',
    deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    source: 'package',
    image: `ghcr.io/acme/shop@${digest}`,
    repository: 'ghcr.io/acme/shop',
    tag: sha,
    digest,
    commitSha: sha,
    branch: 'main',
    url: 'https://github.com/acme/shop/pkgs/container/shop/123456',
    publishedAt: '2026-03-01T12:00:00Z',
  },
})

export const CiFailedMessage = defineMessage({
  type: 'evt.ci.failed',
  version: 1,
  kind: MessageKind.event,
  summary: "A project's CI workflow ended without success: no image for that commit",
  publishedBy: 'vcs',
  schema: CiFailed,
  fixture: {
    projectId: 'prj_shop',
    provider: 'github',
    repo: 'acme/shop',
    deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    workflow: '.github/workflows/build.yml',
    runId: 289782451,
    commitSha: sha,
    branch: 'main',
    conclusion: 'failure',
    url: 'https://github.com/acme/shop/actions/runs/289782451',
    completedAt: '2026-03-01T12:00:00Z',
  },
})

export const BuildSucceededMessage = defineMessage({
  type: 'evt.build.succeeded',
  version: 1,
  kind: MessageKind.event,
  summary: 'A commit was built into an image and pushed to the registry',
  publishedBy: 'build',
  schema: BuildSucceeded,
  fixture: {
    buildId: 'bld_9k2',
    projectId: 'prj_shop',
    commitSha: sha,
    artifactRef: `registry.rxt.example/acme/shop@${digest}`,
    digest,
    multiArch: true,
    architectures: ['amd64', 'arm64'],
    durationMs: 84000,
  },
})

export const BuildFailedMessage = defineMessage({
  type: 'evt.build.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'Building a commit failed',
  publishedBy: 'build',
  schema: BuildFailed,
  fixture: {
    buildId: 'bld_9k2',
    projectId: 'prj_shop',
    commitSha: sha,
    reason: 'RUN npm ci exited with code 1',
    logUrl: 'https://deploy.rxt.example/builds/bld_9k2/logs',
  },
})

export const sourceContracts = [
  ProjectCreatedMessage,
  ProjectUpdatedMessage,
  ManifestRecordedMessage,
  RepoVerifiedMessage,
  CommitPushedMessage,
  BranchDeletedMessage,
  PrOpenedMessage,
  PrSynchronizedMessage,
  PrClosedMessage,
  ImagePublishedMessage,
  CiFailedMessage,
  BuildSucceededMessage,
  BuildFailedMessage,
  RunnersEnsureMessage,
  RunnersReadyMessage,
  TemplatePublishedMessage,
] as const
