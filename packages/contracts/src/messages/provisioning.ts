import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  artifactRefField,
  closedObject,
  hostnameField,
  idField,
  ipAddressField,
  platformField,
  portField,
  providerField,
  textField,
  timestampField,
} from '../fields.ts'

/**
 * Platform-agnostic outcomes of provisioning and networking (both adapters publish them, with
 * `platform` saying which), and the domains context's validation results.
 */

const envId = () => idField('The environment')
const deploymentId = () => idField("The orchestrator's deployment (saga) id")

export const Endpoint = closedObject({
  name: Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' }),
  host: Type.String({
    minLength: 1,
    maxLength: 253,
    pattern: '^[A-Za-z0-9.:-]+$',
    description: 'Internal host name or IP address the workload listens on',
  }),
  port: portField('Port'),
  protocol: Type.Union([
    Type.Literal('http'),
    Type.Literal('https'),
    Type.Literal('grpc'),
    Type.Literal('tcp'),
    Type.Literal('udp'),
  ]),
})
export type Endpoint = Static<typeof Endpoint>

export const Provisioned = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  resourceIds: Type.Array(
    Type.String({
      minLength: 1,
      maxLength: 256,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$',
      description: 'A platform resource id (VM, vApp, namespace, Deployment…)',
    }),
    {
      minItems: 1,
      maxItems: 500,
      uniqueItems: true,
    },
  ),
  endpoints: Type.Array(Endpoint, { maxItems: 100 }),
  provider: Type.Optional(providerField("The provider that provisioned it; absent: the platform's own")),
})
export type Provisioned = Static<typeof Provisioned>

/** What an adapter answers when a step of a deployment failed on its platform (the same for every step). */
const stepFailed = () =>
  closedObject({
    envId: envId(),
    deploymentId: deploymentId(),
    platform: platformField(),
    reason: textField('What went wrong, for people'),
    retryable: Type.Boolean({ description: 'Whether the same request may succeed later' }),
    provider: Type.Optional(providerField("The provider that failed; absent: the platform's own")),
  })

export const ProvisionFailed = stepFailed()
export type ProvisionFailed = Static<typeof ProvisionFailed>

export const NetworkReady = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  hostnames: Type.Array(hostnameField('A public host name now routed to the workload'), {
    minItems: 0,
    maxItems: 50,
    uniqueItems: true,
    description: 'None when nothing is routed by name: a private workload, TCP only, or no ports',
  }),
  vip: Type.Union([ipAddressField('The virtual IP of the load balancer'), Type.Null()], {
    description: 'The load balancer virtual IP, or null when the platform exposes none (ingress only)',
  }),
  provider: Type.Optional(providerField("The provider that configured it; absent: the platform's own")),
})
export type NetworkReady = Static<typeof NetworkReady>

export const NetworkFailed = stepFailed()
export type NetworkFailed = Static<typeof NetworkFailed>

export const Verified = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  image: artifactRefField('What runs: the image the plan named'),
  revision: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
    description: "The platform's rollout revision, or null where it keeps none",
  }),
  replicas: closedObject({
    desired: Type.Integer({ minimum: 0 }),
    ready: Type.Integer({ minimum: 0 }),
  }),
  provider: Type.Optional(providerField("The provider that answered; absent: the platform's own")),
})
export type Verified = Static<typeof Verified>

export const VerifyFailed = stepFailed()
export type VerifyFailed = Static<typeof VerifyFailed>

export const RolledOut = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  image: artifactRefField('What was rolled out: the image the plan named'),
  resourceIds: Type.Array(
    Type.String({
      minLength: 1,
      maxLength: 256,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$',
      description: 'A platform resource id of the workload (Deployment, Service, VM…)',
    }),
    { minItems: 0, maxItems: 500, uniqueItems: true },
  ),
  endpoints: Type.Array(Endpoint, { maxItems: 100 }),
  provider: Type.Optional(providerField("The provider that rolled it out; absent: the platform's own")),
})
export type RolledOut = Static<typeof RolledOut>

export const RolloutFailed = stepFailed()
export type RolloutFailed = Static<typeof RolloutFailed>

/**
 * What a destroy command (cmd.spot.destroy, cmd.sddc.destroy) asks: remove everything of an
 * environment on its provider (a deploy saga's compensation of its provision, or a destroy).
 */
export const DestroyEnvironment = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  tenantId: idField("The tenant whose environment it is (it must be the envelope's)"),
  provider: providerField('The provider the environment is on'),
  reason: textField("Why it is destroyed, for people (kept in the adapter's log)", 500),
})
export type DestroyEnvironment = Static<typeof DestroyEnvironment>

export const Destroyed = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  platform: platformField(),
  existed: Type.Boolean({ description: 'false: there was nothing left to remove' }),
  provider: Type.Optional(providerField("The provider that removed it; absent: the platform's own")),
})
export type Destroyed = Static<typeof Destroyed>

export const DestroyFailed = stepFailed()
export type DestroyFailed = Static<typeof DestroyFailed>

export const DomainValid = closedObject({
  domainId: idField('The domain binding'),
  envId: envId(),
  hostname: hostnameField('The custom domain'),
  certificateExpiresAt: Type.Union([timestampField('When the TLS certificate expires'), Type.Null()], {
    description: 'Expiry of the certificate issued for it, or null when TLS is off',
  }),
  validatedAt: timestampField('When ownership and DNS were confirmed'),
})
export type DomainValid = Static<typeof DomainValid>

export const DomainCheck = {
  dns: 'dns',
  ownership: 'ownership',
  acme: 'acme',
} as const
export type DomainCheck = (typeof DomainCheck)[keyof typeof DomainCheck]

export const DomainInvalid = closedObject({
  domainId: idField('The domain binding'),
  envId: envId(),
  hostname: hostnameField('The custom domain'),
  check: Type.Union(
    [Type.Literal(DomainCheck.dns), Type.Literal(DomainCheck.ownership), Type.Literal(DomainCheck.acme)],
    { description: 'The check that failed' },
  ),
  reason: textField('What is wrong and how to fix it, for people'),
})
export type DomainInvalid = Static<typeof DomainInvalid>

/** How a compute provider is doing, as its adapter last probed it; the router takes no new work to an unhealthy one. */
export const ProviderHealth = closedObject({
  provider: Type.String({
    minLength: 1,
    maxLength: 63,
    pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
    description: 'The provider, as its provider.yaml names it',
  }),
  healthy: Type.Boolean({ description: 'Whether the probe succeeded' }),
  latencyMs: Type.Number({ minimum: 0, description: 'How long the probe took' }),
  message: textField('What the probe found, for people', 500),
  checkedAt: timestampField('When it was probed'),
  intervalMs: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    description: 'How often the adapter probes: silence for three intervals counts as unhealthy',
  }),
})
export type ProviderHealth = Static<typeof ProviderHealth>

export const ProviderHealthMessage = defineMessage({
  type: 'evt.provider.health',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A compute provider's health, as its adapter probed it (published by every adapter, on a schedule)",
  publishedBy: '*',
  schema: ProviderHealth,
  fixture: {
    provider: 'rxt-spot',
    healthy: true,
    latencyMs: 12.5,
    message: 'the API server answered',
    checkedAt: '2026-03-01T12:00:00Z',
    intervalMs: 15000,
  },
})

export const ProvisionedMessage = defineMessage({
  type: 'evt.provisioned',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A deployment's environment exists on its platform: namespace, quotas and policies, or VM folder and segment; the workload is rolled out after (published by the spot or sddc adapter)",
  publishedBy: '*',
  schema: Provisioned,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    resourceIds: ['Namespace:tnt-acme-shop-prod', 'ResourceQuota:tnt-acme-shop-prod/quota'],
    endpoints: [],
  },
})

export const ProvisionFailedMessage = defineMessage({
  type: 'evt.provision.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'Provisioning compute failed (published by the spot or sddc adapter)',
  publishedBy: '*',
  schema: ProvisionFailed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'sddc-flex',
    reason: 'resource pool tenant-acme has no free memory for 2 x 8 GiB',
    retryable: false,
  },
})

export const NetworkReadyMessage = defineMessage({
  type: 'evt.network.ready',
  version: 1,
  kind: MessageKind.event,
  summary: 'Networking, DNS and TLS for a deployment are in place (published by the spot or sddc adapter)',
  publishedBy: '*',
  schema: NetworkReady,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'sddc-flex',
    hostnames: ['shop.acme.example'],
    vip: '203.0.113.10',
  },
})

export const NetworkFailedMessage = defineMessage({
  type: 'evt.network.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'Configuring networking failed (published by the spot or sddc adapter)',
  publishedBy: '*',
  schema: NetworkFailed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    reason: 'ingress class rxt-public not found',
    retryable: true,
  },
})

export const DomainValidMessage = defineMessage({
  type: 'evt.domain.valid',
  version: 1,
  kind: MessageKind.event,
  summary: 'A custom domain is verified and its certificate issued',
  publishedBy: 'domains',
  schema: DomainValid,
  fixture: {
    domainId: 'dom_shop',
    envId: 'env_prod',
    hostname: 'shop.acme.example',
    certificateExpiresAt: '2025-08-30T00:00:00Z',
    validatedAt: '2025-06-01T11:58:00Z',
  },
})

export const DomainInvalidMessage = defineMessage({
  type: 'evt.domain.invalid',
  version: 1,
  kind: MessageKind.event,
  summary: 'A custom domain failed validation',
  publishedBy: 'domains',
  schema: DomainInvalid,
  fixture: {
    domainId: 'dom_shop',
    envId: 'env_prod',
    hostname: 'shop.acme.example',
    check: 'dns',
    reason: 'CNAME shop.acme.example points to old.example, expected edge.rxt.example',
  },
})

export const DestroyedMessage = defineMessage({
  type: 'evt.destroyed',
  version: 1,
  kind: MessageKind.event,
  summary: 'Everything of an environment is gone from its provider (published by the spot or sddc adapter)',
  publishedBy: '*',
  schema: Destroyed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    existed: true,
    provider: 'rxt-spot',
  },
})

export const DestroyFailedMessage = defineMessage({
  type: 'evt.destroy.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'Removing an environment from its provider failed (published by the spot or sddc adapter)',
  publishedBy: '*',
  schema: DestroyFailed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'sddc-flex',
    reason: 'vCenter did not answer within 30 s',
    retryable: true,
  },
})

export const VerifiedMessage = defineMessage({
  type: 'evt.verified',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A deployment is healthy on its provider: the plan's image runs and every desired replica is ready (published by the spot or sddc adapter)",
  publishedBy: '*',
  schema: Verified,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    image: 'ghcr.io/acme/shop:1.4.2',
    revision: 3,
    replicas: { desired: 2, ready: 2 },
    provider: 'rxt-spot',
  },
})

export const VerifyFailedMessage = defineMessage({
  type: 'evt.verify.failed',
  version: 1,
  kind: MessageKind.event,
  summary:
    'A deployment is not healthy on its provider: still rolling out (retryable), degraded, gone, or running another image (published by the spot or sddc adapter)',
  publishedBy: '*',
  schema: VerifyFailed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    reason: 'rxt-spot: 1 of 2 replicas ready after 30 s (CrashLoopBackOff)',
    retryable: true,
  },
})

export const RolledOutMessage = defineMessage({
  type: 'evt.rolled.out',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A deployment's workload was applied on its provider: the plan's image, replicas and endpoints; its health is verified after (published by the spot or sddc adapter)",
  publishedBy: '*',
  schema: RolledOut,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    image: 'ghcr.io/acme/shop:1.4.2',
    resourceIds: ['Deployment:tnt-acme-shop-prod/web', 'Service:tnt-acme-shop-prod/web'],
    endpoints: [{ name: 'web', host: 'web.tnt-acme-shop-prod.svc', port: 8080, protocol: 'http' }],
    provider: 'rxt-spot',
  },
})

export const RolloutFailedMessage = defineMessage({
  type: 'evt.rollout.failed',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A deployment's workload could not be applied on its provider (published by the spot or sddc adapter)",
  publishedBy: '*',
  schema: RolloutFailed,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    platform: 'rxt-spot',
    reason: 'rxt-spot: the image pull secret regcred does not exist',
    retryable: false,
  },
})

export const provisioningContracts = [
  ProviderHealthMessage,
  ProvisionedMessage,
  ProvisionFailedMessage,
  NetworkReadyMessage,
  NetworkFailedMessage,
  DomainValidMessage,
  DomainInvalidMessage,
  RolledOutMessage,
  RolloutFailedMessage,
  VerifiedMessage,
  VerifyFailedMessage,
  DestroyedMessage,
  DestroyFailedMessage,
] as const
