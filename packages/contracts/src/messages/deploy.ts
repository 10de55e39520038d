import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  artifactRefField,
  canonicalManifestField,
  canonicalOverridesField,
  closedObject,
  commitShaField,
  digestField,
  idField,
  platformField,
  slugField,
  textField,
  timestampField,
  urlField,
} from '../fields.ts'

/** The deploy flow: the request to deploy and the orchestrator's outcome events. */

const envId = () => idField('The environment being deployed')
const deploymentId = () =>
  idField("The orchestrator's deployment (saga) id: hash(tenant, project, env, commit)")

/**
 * cmd.deploy.apply v2: what the orchestrator needs to deploy with no call back to the registry: the
 * environment's name (its overrides in the manifest apply), the manifest itself in canonical JSON
 * (its digest checked by the router), and the overrides the registry stores on the environment.
 */
export const DeployApply = closedObject({
  envId: envId(),
  projectId: idField('The project the environment belongs to'),
  environment: slugField("The environment's name: its overrides in the manifest apply"),
  commitSha: commitShaField('The commit being deployed'),
  artifactRef: artifactRefField('The image to run'),
  manifest: canonicalManifestField(),
  manifestDigest: digestField('sha256: of the canonical manifest'),
  overrides: Type.Optional(
    canonicalOverridesField(
      'The overrides stored on the environment in the registry, in canonical JSON (RFC 8785)',
    ),
  ),
})
export type DeployApply = Static<typeof DeployApply>

export const DeployStarted = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  projectId: idField('The project'),
  platform: platformField(),
  artifactRef: artifactRefField(),
  startedAt: timestampField('When the workload started consuming resources (metering starts here)'),
})
export type DeployStarted = Static<typeof DeployStarted>

export const DeployReady = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  urls: Type.Array(urlField('A URL the deployment answers on'), {
    minItems: 0,
    maxItems: 50,
    uniqueItems: true,
    description: 'None when nothing is routed by name: a private workload, TCP only, or no ports',
  }),
})
export type DeployReady = Static<typeof DeployReady>

export const DeployFailed = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: Type.Union([platformField(), Type.Null()], {
    description: 'The platform, or null when the deployment failed before placement',
  }),
  step: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[a-z][a-z0-9-]*$',
    description: 'The saga step that failed, e.g. provision, network, verify',
  }),
  reason: textField('What went wrong, for people'),
  compensated: Type.Boolean({ description: 'Whether every completed step was undone' }),
})
export type DeployFailed = Static<typeof DeployFailed>

export const DeployStopReason = {
  superseded: 'superseded',
  rolledBack: 'rolled-back',
  destroyed: 'destroyed',
  failed: 'failed',
} as const
export type DeployStopReason = (typeof DeployStopReason)[keyof typeof DeployStopReason]

export const DeployStopped = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  stoppedAt: timestampField('When the workload stopped consuming resources (metering stops here)'),
  reason: Type.Union(
    [
      Type.Literal(DeployStopReason.superseded),
      Type.Literal(DeployStopReason.rolledBack),
      Type.Literal(DeployStopReason.destroyed),
      Type.Literal(DeployStopReason.failed),
    ],
    { description: 'Why it stopped' },
  ),
})
export type DeployStopped = Static<typeof DeployStopped>

const digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const artifactRef = `registry.rxt.example/acme/shop@${digest}`

const applyManifest =
  '{"apiVersion":"rxt-deploy/v1","kind":"Application","metadata":{"name":"shop"},"spec":{"image":"ghcr.io/acme/shop:1.4.2"}}'

export const DeployApplyMessage = defineMessage({
  type: 'cmd.deploy.apply',
  version: 2,
  kind: MessageKind.command,
  summary:
    'Deploy a built artifact to an environment with the manifest the registry stored (the orchestrator starts a deploy saga)',
  publishedBy: 'registry',
  schema: DeployApply,
  fixture: {
    envId: 'env_prod',
    projectId: 'prj_shop',
    environment: 'production',
    commitSha: '9fceb02d0ae598e95dc970b74767f19372d61af8',
    artifactRef,
    manifest: applyManifest,
    manifestDigest: `sha256:${createHash('sha256').update(applyManifest).digest('hex')}`,
    overrides: '{}',
  },
})

export const DeployStartedMessage = defineMessage({
  type: 'evt.deploy.started',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployment started running on its platform (usage metering starts)',
  publishedBy: 'orchestrator',
  schema: DeployStarted,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    projectId: 'prj_shop',
    platform: 'rxt-spot',
    artifactRef,
    startedAt: '2025-06-01T12:00:05Z',
  },
})

export const DeployReadyMessage = defineMessage({
  type: 'evt.deploy.ready',
  version: 2,
  kind: MessageKind.event,
  summary:
    'A deployment passed its health checks and serves traffic (version 2: also one reached by no URL, with none)',
  publishedBy: 'orchestrator',
  schema: DeployReady,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    urls: ['https://shop.acme.example'],
  },
})

export const DeployFailedMessage = defineMessage({
  type: 'evt.deploy.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployment failed at a step; completed steps were compensated in reverse',
  publishedBy: 'orchestrator',
  schema: DeployFailed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    step: 'verify',
    reason: 'health check GET /healthz returned 503 for 120 s',
    compensated: true,
  },
})

export const DeployStoppedMessage = defineMessage({
  type: 'evt.deploy.stopped',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployment stopped running (usage metering stops)',
  publishedBy: 'orchestrator',
  schema: DeployStopped,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    stoppedAt: '2025-06-02T08:30:00Z',
    reason: 'superseded',
  },
})

export const deployContracts = [
  DeployApplyMessage,
  DeployStartedMessage,
  DeployReadyMessage,
  DeployFailedMessage,
  DeployStoppedMessage,
] as const
