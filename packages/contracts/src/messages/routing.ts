import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  artifactRefField,
  canonicalManifestField,
  canonicalOverridesField,
  closedObject,
  digestField,
  idField,
  platformField,
  providerField,
  slugField,
  textField,
} from '../fields.ts'
import { canonical } from '../manifest/manifest-digest.ts'
import { DeployPlan, deployPlanFixture } from '../plan/deploy-plan.ts'

/** The router's work: a deployment to place on a provider, the provider chosen and why, or why none. */

const deploymentId = () => idField("The orchestrator's deployment (saga) id")
const envId = () => idField('The environment')

export const RouterProvision = closedObject({
  deploymentId: deploymentId(),
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  environment: slugField("The environment's name: its overrides in the manifest apply"),
  artifactRef: artifactRefField('The image to run'),
  manifest: canonicalManifestField(),
  manifestDigest: digestField('sha256: of the canonical manifest'),
  /**
   * The overrides stored on the environment in the registry when the deploy started; they apply after
   * the manifest's spec.environments.<name>. Absent: the ones the router last heard of.
   */
  overrides: Type.Optional(
    canonicalOverridesField(
      'The deploy.yaml overrides in canonical JSON (RFC 8785), as the registry validated them',
    ),
  ),
})
export type RouterProvision = Static<typeof RouterProvision>

const Attempt = closedObject({
  provider: providerField('A provider tried'),
  reason: textField('Why it did not take the work', 1000),
})

export const RouteDecided = closedObject({
  deploymentId: deploymentId(),
  envId: envId(),
  provider: providerField('The provider the work was sent to'),
  platform: platformField('The platform family of its commands'),
  reason: textField('Why this provider, for people', 2000),
  attempt: Type.Integer({
    minimum: 1,
    maximum: 20,
    description: '1 for the first choice; more after failovers',
  }),
  tried: Type.Array(Attempt, { maxItems: 20, description: 'Providers tried before, and why they failed' }),
})
export type RouteDecided = Static<typeof RouteDecided>

export const RouteFailed = closedObject({
  deploymentId: deploymentId(),
  envId: envId(),
  reason: textField('Why no provider could take the work, for people', 2000),
  tried: Type.Array(Attempt, { maxItems: 20, description: 'Providers tried, and why they failed' }),
  retryable: Type.Optional(
    Type.Boolean({
      description: 'Whether the same request may succeed later (a provider only unhealthy now); absent: no',
    }),
  ),
})
export type RouteFailed = Static<typeof RouteFailed>

const manifest = canonical({
  apiVersion: 'rxt-deploy/v1',
  kind: 'Application',
  metadata: { name: 'shop' },
  spec: { image: 'ghcr.io/acme/shop:1.4.2', replicas: 1, stateful: false },
})

export const RouterProvisionMessage = defineMessage({
  type: 'cmd.router.provision',
  version: 1,
  kind: MessageKind.command,
  summary:
    'Retired: nothing sends or takes it (the orchestrator asks cmd.router.plan and sends each step itself); kept so that its history stays readable',
  publishedBy: 'orchestrator',
  schema: RouterProvision,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    tenantId: 'tnt_acme',
    projectId: 'prj_shop',
    envId: 'env_prod',
    environment: 'production',
    artifactRef: 'ghcr.io/acme/shop:1.4.2',
    manifest,
    manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
  },
})

export const RouteDecidedMessage = defineMessage({
  type: 'evt.route.decided',
  version: 1,
  kind: MessageKind.event,
  summary:
    'Retired with cmd.router.provision: nothing publishes it (evt.route.planned says where a deployment goes, and why)',
  publishedBy: 'router',
  schema: RouteDecided,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    provider: 'sddc-flex',
    platform: 'sddc-flex',
    reason:
      'no platform preference; sddc-flex is the only healthy provider that fits the workload ($41.20/month)',
    attempt: 2,
    tried: [{ provider: 'rxt-spot', reason: 'rxt-spot could not provision: the API server is unreachable' }],
  },
})

export const RouteFailedMessage = defineMessage({
  type: 'evt.route.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'No provider could take a deployment: every one the manifest allows was tried or ruled out',
  publishedBy: 'router',
  schema: RouteFailed,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    reason: 'No provider can run shop: rxt-spot is disabled by an operator',
    tried: [],
  },
})

/**
 * What cmd.router.plan v2 asks: the plan of a deployment on the provider placement chose (the router
 * chooses nothing), answered with the plan.
 */
export const RouterPlan = closedObject({
  deploymentId: deploymentId(),
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  environment: slugField("The environment's name: its overrides in the manifest apply"),
  artifactRef: artifactRefField('The image to run'),
  manifest: canonicalManifestField(),
  manifestDigest: digestField('sha256: of the canonical manifest'),
  overrides: Type.Optional(
    canonicalOverridesField(
      'The deploy.yaml overrides in canonical JSON (RFC 8785), as the registry validated them; absent: the ones the router last heard of',
    ),
  ),
  provider: providerField('The provider placement chose: the plan is made for it'),
})
export type RouterPlan = Static<typeof RouterPlan>

export const RoutePlanned = closedObject({
  deploymentId: deploymentId(),
  envId: envId(),
  provider: providerField('The provider the plan is for'),
  platform: platformField('The platform family of its commands'),
  reason: textField('Why this provider, for people', 2000),
  plan: DeployPlan,
})
export type RoutePlanned = Static<typeof RoutePlanned>

export const RouterPlanMessage = defineMessage({
  type: 'cmd.router.plan',
  version: 2,
  kind: MessageKind.command,
  summary:
    "Make a deployment's plan on the provider placement chose, without sending it (the deploy saga's plan step); version 2 names the provider",
  publishedBy: 'orchestrator',
  schema: RouterPlan,
  fixture: { ...RouterProvisionMessage.fixture, provider: 'rxt-spot' },
})

export const RoutePlannedMessage = defineMessage({
  type: 'evt.route.planned',
  version: 1,
  kind: MessageKind.event,
  summary: 'The router chose a provider for a deployment and made its plan; the orchestrator sends it',
  publishedBy: 'router',
  schema: RoutePlanned,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    provider: 'rxt-spot',
    platform: 'rxt-spot',
    reason: 'no platform preference; rxt-spot is the cheapest healthy provider that fits ($12.40/month)',
    plan: deployPlanFixture('rxt-spot', 'rxt-spot'),
  },
})

export const routingContracts = [
  RouterProvisionMessage,
  RouteDecidedMessage,
  RouteFailedMessage,
  RouterPlanMessage,
  RoutePlannedMessage,
] as const
