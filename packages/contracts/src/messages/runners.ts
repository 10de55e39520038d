import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import { closedObject, digestField, idField, labelField, slugField } from '../fields.ts'

/** Build runners and project templates: what the build and templates contexts ask for and publish. */

const projectId = () => idField('The project')
const digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

export const RunnerKind = { shared: 'shared', dedicated: 'dedicated', ephemeral: 'ephemeral' } as const
export type RunnerKind = (typeof RunnerKind)[keyof typeof RunnerKind]

const runnerKind = () =>
  Type.Union(
    [Type.Literal(RunnerKind.shared), Type.Literal(RunnerKind.dedicated), Type.Literal(RunnerKind.ephemeral)],
    { description: 'shared pool, a pool dedicated to the tenant, or one runner per job' },
  )
const runnerLabels = () =>
  Type.Array(labelField('A label jobs select runners by'), { maxItems: 20, uniqueItems: true })

export const RunnersEnsure = closedObject({
  tenantId: idField('The tenant'),
  projectId: projectId(),
  kind: runnerKind(),
  labels: runnerLabels(),
  minRunners: Type.Integer({ minimum: 1, maximum: 100, description: 'Runners that must be idle or busy' }),
})
export type RunnersEnsure = Static<typeof RunnersEnsure>

export const RunnersReady = closedObject({
  tenantId: idField('The tenant'),
  projectId: projectId(),
  poolId: idField('The runner pool'),
  kind: runnerKind(),
  labels: runnerLabels(),
  runnerCount: Type.Integer({ minimum: 1, maximum: 1000, description: 'Runners now available' }),
})
export type RunnersReady = Static<typeof RunnersReady>

export const TemplatePublished = closedObject({
  templateId: idField('The template'),
  name: slugField('Template name'),
  version: Type.String({
    minLength: 5,
    maxLength: 64,
    pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$',
    description: 'Semantic version',
  }),
  variant: Type.Union([slugField('Compliance variant, e.g. pci'), Type.Null()], {
    description: 'Compliance variant, or null for the base template',
  }),
  digest: digestField('Digest of the template bundle'),
  authorId: idField('Who published it'),
})
export type TemplatePublished = Static<typeof TemplatePublished>

export const RunnersEnsureMessage = defineMessage({
  type: 'cmd.runners.ensure',
  version: 1,
  kind: MessageKind.command,
  summary: 'Make sure a runner pool of a kind and labels exists with enough runners',
  publishedBy: 'build',
  schema: RunnersEnsure,
  fixture: {
    tenantId: 'tnt_acme',
    projectId: 'prj_shop',
    kind: 'shared',
    labels: ['linux', 'arch=amd64'],
    minRunners: 1,
  },
})

export const RunnersReadyMessage = defineMessage({
  type: 'evt.runners.ready',
  version: 1,
  kind: MessageKind.event,
  summary: 'A runner pool is ready to take jobs',
  publishedBy: 'runners',
  schema: RunnersReady,
  fixture: {
    tenantId: 'tnt_acme',
    projectId: 'prj_shop',
    poolId: 'pool_shared_linux',
    kind: 'shared',
    labels: ['linux', 'arch=amd64'],
    runnerCount: 4,
  },
})

export const TemplatePublishedMessage = defineMessage({
  type: 'evt.template.published',
  version: 1,
  kind: MessageKind.event,
  summary: 'A golden template (or a compliance variant of one) was published',
  publishedBy: 'templates',
  schema: TemplatePublished,
  fixture: {
    templateId: 'tpl_node_web',
    name: 'node-web',
    version: '1.4.0',
    variant: 'pci',
    digest,
    authorId: 'usr_platform',
  },
})
