import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  closedObject,
  hostnameField,
  idField,
  nameField,
  providerField,
  slugField,
  timestampField,
} from '../fields.ts'
import { DeployPlan, deployPlanFixture } from '../plan/deploy-plan.ts'
import { DestroyEnvironment } from './provisioning.ts'

/** RXT Spot (Kubernetes): the router's commands to the spot adapter and the adapter's own events. */

const envId = () => idField('The environment')
const deploymentId = () => idField("The orchestrator's deployment (saga) id")
const namespace = () => slugField('The Kubernetes namespace of the environment')

/** cmd.spot.provision.request, cmd.spot.network.configure, cmd.spot.rollout and cmd.spot.verify carry the deployment's plan. */
export const SpotProvisionRequest = DeployPlan
export type SpotProvisionRequest = DeployPlan
export const SpotNetworkConfigure = DeployPlan
export type SpotNetworkConfigure = DeployPlan

export const SpotScale = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  replicas: Type.Integer({ minimum: 0, maximum: 1000, description: 'Desired replicas (0 pauses)' }),
  hpa: Type.Union(
    [
      closedObject({
        minReplicas: Type.Integer({ minimum: 1, maximum: 1000 }),
        maxReplicas: Type.Integer({ minimum: 1, maximum: 1000 }),
        targetCpuPercent: Type.Integer({ minimum: 1, maximum: 100 }),
      }),
      Type.Null(),
    ],
    { description: 'Horizontal pod autoscaling, or null for a fixed replica count' },
  ),
  provider: Type.Optional(providerField("The provider meant; absent: the platform's own adapter")),
})
export type SpotScale = Static<typeof SpotScale>

export const SpotPodCreated = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  namespace: namespace(),
  podId: idField('The pod uid'),
  podName: nameField('The pod name'),
  kubeDeploymentName: slugField('The Kubernetes Deployment that owns the pod'),
})
export type SpotPodCreated = Static<typeof SpotPodCreated>

export const SpotIngressConfigured = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  namespace: namespace(),
  ingressId: idField('The Ingress uid'),
  hostname: hostnameField('The host the Ingress serves'),
})
export type SpotIngressConfigured = Static<typeof SpotIngressConfigured>

export const SpotCredentialsIssued = closedObject({
  envId: envId(),
  namespace: namespace(),
  serviceAccount: slugField('The ServiceAccount the token is for'),
  issuedTo: idField('Who asked: a user or API key id'),
  expiresAt: timestampField('When the token stops working'),
})
export type SpotCredentialsIssued = Static<typeof SpotCredentialsIssued>

export const SpotProvisionRequestMessage = defineMessage({
  type: 'cmd.spot.provision.request',
  version: 2,
  kind: MessageKind.command,
  summary:
    "Create a deployment's environment on RXT Spot (namespace, quotas, network policies), as its plan says; the workload is cmd.spot.rollout's",
  publishedBy: 'orchestrator',
  schema: SpotProvisionRequest,
  fixture: deployPlanFixture('rxt-spot', 'rxt-spot'),
})

export const SpotNetworkConfigureMessage = defineMessage({
  type: 'cmd.spot.network.configure',
  version: 2,
  kind: MessageKind.command,
  summary:
    "Configure a provisioned deployment's ingress, load balancing, TLS and DNS on RXT Spot, as its plan says",
  publishedBy: 'orchestrator',
  schema: SpotNetworkConfigure,
  fixture: deployPlanFixture('rxt-spot', 'rxt-spot'),
})

export const SpotRolloutMessage = defineMessage({
  type: 'cmd.spot.rollout',
  version: 1,
  kind: MessageKind.command,
  summary:
    "Roll a deployment's workload (Deployment or StatefulSet, Service, autoscaler) out on RXT Spot, as its plan says; answered by evt.rolled.out or evt.rollout.failed",
  publishedBy: 'orchestrator',
  schema: DeployPlan,
  fixture: deployPlanFixture('rxt-spot', 'rxt-spot'),
})

export const SpotVerifyMessage = defineMessage({
  type: 'cmd.spot.verify',
  version: 1,
  kind: MessageKind.command,
  summary:
    "Verify a deployment's health on RXT Spot: its plan's image runs, every desired replica ready; answered by evt.verified or evt.verify.failed",
  publishedBy: 'orchestrator',
  schema: DeployPlan,
  fixture: deployPlanFixture('rxt-spot', 'rxt-spot'),
})

export const SpotScaleMessage = defineMessage({
  type: 'cmd.spot.scale',
  version: 1,
  kind: MessageKind.command,
  summary: 'Change the replica count or autoscaling of a deployment on RXT Spot',
  publishedBy: 'router',
  schema: SpotScale,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    replicas: 3,
    hpa: { minReplicas: 2, maxReplicas: 10, targetCpuPercent: 70 },
  },
})

export const SpotPodCreatedMessage = defineMessage({
  type: 'evt.spot.pod.created',
  version: 1,
  kind: MessageKind.event,
  summary: 'A pod of a deployment was created on RXT Spot',
  publishedBy: 'spot',
  schema: SpotPodCreated,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    namespace: 'tnt-acme-shop-prod',
    podId: '6f1d2c3b-4a59-4e8f-9a0b-1c2d3e4f5a6b',
    podName: 'web-7d9f8c6b5d-x2k4z',
    kubeDeploymentName: 'web',
  },
})

export const SpotIngressConfiguredMessage = defineMessage({
  type: 'evt.spot.ingress.configured',
  version: 1,
  kind: MessageKind.event,
  summary: 'An Ingress of a deployment was configured on RXT Spot',
  publishedBy: 'spot',
  schema: SpotIngressConfigured,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    namespace: 'tnt-acme-shop-prod',
    ingressId: '0b8e1a2f-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
    hostname: 'shop.acme.example',
  },
})

export const SpotCredentialsIssuedMessage = defineMessage({
  type: 'evt.spot.credentials.issued',
  version: 1,
  kind: MessageKind.event,
  summary:
    "Short-lived credentials (a kubeconfig with a TokenRequest token) were issued for an environment's namespace; never the token itself",
  publishedBy: 'spot',
  schema: SpotCredentialsIssued,
  fixture: {
    envId: 'env_prod',
    namespace: 'shop-prod-3f9a1c',
    serviceAccount: 'rxt-env',
    issuedTo: 'usr_7c2d',
    expiresAt: '2026-11-23T10:00:00.000Z',
  },
})

export const SpotDestroyMessage = defineMessage({
  type: 'cmd.spot.destroy',
  version: 1,
  kind: MessageKind.command,
  summary:
    'Remove everything of an environment on RXT Spot (its namespace and everything in it); answered by evt.destroyed or evt.destroy.failed',
  publishedBy: 'orchestrator',
  schema: DestroyEnvironment,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    tenantId: 'tnt_acme',
    provider: 'rxt-spot',
    reason: 'the deployment failed at its network step; what it provisioned is undone',
  },
})

export const spotContracts = [
  SpotProvisionRequestMessage,
  SpotNetworkConfigureMessage,
  SpotRolloutMessage,
  SpotVerifyMessage,
  SpotScaleMessage,
  SpotPodCreatedMessage,
  SpotIngressConfiguredMessage,
  SpotCredentialsIssuedMessage,
  SpotDestroyMessage,
] as const
