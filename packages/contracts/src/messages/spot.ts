import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  artifactRefField,
  cidrField,
  closedObject,
  DnsSettings,
  digestField,
  hostnameField,
  idField,
  nameField,
  portField,
  providerField,
  slugField,
  TlsSettings,
  timestampField,
  urlField,
} from '../fields.ts'

/** RXT Spot (Kubernetes): the router's commands to the spot adapter and the adapter's own events. */

const envId = () => idField('The environment')
const deploymentId = () => idField("The orchestrator's deployment (saga) id")
const namespace = () => slugField('The Kubernetes namespace of the environment')

export const KubeObjectRef = closedObject({
  apiVersion: Type.String({ minLength: 1, maxLength: 128, pattern: '^([a-z0-9.-]+/)?v[0-9]+[a-z0-9]*$' }),
  kind: Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Z][A-Za-z0-9]*$' }),
  name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' }),
})
export type KubeObjectRef = Static<typeof KubeObjectRef>

export const SpotResources = closedObject(
  {
    replicas: Type.Integer({ minimum: 1, maximum: 1000 }),
    cpuMillicores: Type.Integer({ minimum: 10, maximum: 256000, description: 'CPU request per replica' }),
    memoryMiB: Type.Integer({ minimum: 16, maximum: 1048576, description: 'Memory request per replica' }),
    storageGiB: Type.Integer({ minimum: 0, maximum: 65536, description: 'Persistent storage per replica' }),
  },
  { description: 'What the workload asks for' },
)
export type SpotResources = Static<typeof SpotResources>

export const SpotProvisionRequest = closedObject({
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  deploymentId: deploymentId(),
  namespace: namespace(),
  artifactRef: artifactRefField('The image to run, pinned by digest'),
  helmChart: Type.Union(
    [
      closedObject({
        repository: urlField('Chart repository (https:// or oci://)'),
        name: slugField('Chart name'),
        version: Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z.+-]+$' }),
      }),
      Type.Null(),
    ],
    { description: 'A Helm chart to install, or null when only k8sManifests apply' },
  ),
  k8sManifests: closedObject(
    {
      bundleDigest: digestField('Digest of the rendered manifest bundle; fetch it from the router by digest'),
      objects: Type.Array(KubeObjectRef, { maxItems: 200 }),
    },
    { description: 'The Kubernetes objects the router rendered from deploy.yaml (by reference)' },
  ),
  resources: SpotResources,
  provider: Type.Optional(providerField("The provider meant; absent: the platform's own adapter")),
})
export type SpotProvisionRequest = Static<typeof SpotProvisionRequest>

export const SpotNetworkConfigure = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  namespace: namespace(),
  ingressRules: Type.Array(
    closedObject({
      host: hostnameField('Host the rule matches'),
      path: Type.String({ minLength: 1, maxLength: 512, pattern: '^/', description: 'Path prefix' }),
      serviceName: slugField('Backend Service'),
      servicePort: portField('Backend port'),
    }),
    { maxItems: 100 },
  ),
  serviceLB: Type.Union(
    [
      closedObject({ port: portField('Port the load balancer exposes'), targetPort: portField('Pod port') }),
      Type.Null(),
    ],
    { description: 'A Service of type LoadBalancer, or null for ingress only' },
  ),
  networkPolicies: Type.Array(
    closedObject({
      name: slugField('Policy name'),
      direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
      peers: Type.Array(cidrField('Allowed peer block'), { minItems: 1, maxItems: 100 }),
      ports: Type.Array(portField('Allowed port'), { maxItems: 100, uniqueItems: true }),
    }),
    { maxItems: 100 },
  ),
  tls: TlsSettings,
  dns: DnsSettings,
  provider: Type.Optional(providerField("The provider meant; absent: the platform's own adapter")),
})
export type SpotNetworkConfigure = Static<typeof SpotNetworkConfigure>

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

const digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

export const spotContracts = [
  defineMessage({
    type: 'cmd.spot.provision.request',
    version: 1,
    kind: MessageKind.command,
    summary: 'Create the namespace and workload of a deployment on RXT Spot',
    publishedBy: 'router',
    schema: SpotProvisionRequest,
    fixture: {
      tenantId: 'tnt_acme',
      projectId: 'prj_shop',
      envId: 'env_prod',
      deploymentId: 'dep_7f3a9c',
      namespace: 'tnt-acme-shop-prod',
      artifactRef: `registry.rxt.example/acme/shop@${digest}`,
      helmChart: null,
      k8sManifests: {
        bundleDigest: digest,
        objects: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          { apiVersion: 'v1', kind: 'Service', name: 'web' },
        ],
      },
      resources: { replicas: 3, cpuMillicores: 500, memoryMiB: 512, storageGiB: 0 },
    },
  }),
  defineMessage({
    type: 'cmd.spot.network.configure',
    version: 1,
    kind: MessageKind.command,
    summary: 'Configure ingress, load balancing, network policies, TLS and DNS on RXT Spot',
    publishedBy: 'router',
    schema: SpotNetworkConfigure,
    fixture: {
      envId: 'env_prod',
      deploymentId: 'dep_7f3a9c',
      namespace: 'tnt-acme-shop-prod',
      ingressRules: [{ host: 'shop.acme.example', path: '/', serviceName: 'web', servicePort: 8080 }],
      serviceLB: null,
      networkPolicies: [
        { name: 'allow-ingress', direction: 'ingress', peers: ['10.0.0.0/8'], ports: [8080] },
      ],
      tls: { mode: 'acme', certificateRef: null, minVersion: '1.2' },
      dns: {
        zone: 'acme.example',
        records: [{ name: 'shop.acme.example', type: 'CNAME', ttlSeconds: 300 }],
      },
    },
  }),
  defineMessage({
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
  }),
  defineMessage({
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
  }),
  defineMessage({
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
  }),
  defineMessage({
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
  }),
] as const
