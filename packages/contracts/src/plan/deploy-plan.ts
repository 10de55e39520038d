import Type, { type Static, type TSchema } from 'typebox'
import {
  artifactRefField,
  closedObject,
  digestField,
  hostnameField,
  idField,
  platformField,
  portField,
  providerField,
  secretRefField,
  slugField,
} from '../fields.ts'

/**
 * The deploy plan: everything a platform adapter needs to create one deployment, made once by the
 * router from a manifest, the environment's overrides and the provider chosen, and sent as the
 * payload of the platform commands (`cmd.spot.*`, `cmd.sddc.*`). Only the adapter renders it into
 * platform objects; the router's preview renders it with the same function.
 *
 * Its three requests are the platform SDK's calls (`IComputePlatform`), so a plan is also what the
 * SDK's conformance suite drives.
 */

const key = () =>
  Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$',
    description: 'Idempotency key: the same key and request give the same outcome, once',
  })
const envId = () => idField('The environment, as the control plane names it')

const protocolField = () =>
  Type.Union([Type.Literal('http'), Type.Literal('grpc'), Type.Literal('tcp'), Type.Literal('websocket')])

const envName = () => Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', minLength: 1, maxLength: 128 })

/** A map whose keys follow `key`: closed (no other key), as every payload object is. */
const boundedRecord = <K extends TSchema, V extends TSchema>(key: K, value: V, options: object) =>
  Type.Record(key, value, { ...options, propertyNames: key, additionalProperties: false })

/** The place an environment's workloads run: a namespace, a VM folder and network segment. */
export const ProvisionRequest = closedObject({
  key: key(),
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  name: slugField(
    'A DNS label for the environment, unique per tenant: <app>-<environment>; the platform adds a hash of tenant and environment',
  ),
  region: Type.Optional(slugField('Where it must run; the provider picks when absent')),
  quota: closedObject(
    {
      cpu: Type.Number({ minimum: 0.1, maximum: 4096, description: 'vCPUs the environment may use' }),
      memoryMiB: Type.Integer({ minimum: 64, maximum: 16_777_216 }),
      storageGiB: Type.Integer({ minimum: 0, maximum: 1_048_576 }),
    },
    { description: 'The most the environment may use' },
  ),
  labels: Type.Optional(
    boundedRecord(slugField('Label name'), Type.String({ minLength: 0, maxLength: 63 }), {
      maxProperties: 20,
    }),
  ),
})
export type ProvisionRequest = Static<typeof ProvisionRequest>

export const Port = closedObject({
  name: slugField('Port name'),
  port: portField('The port the workload listens on'),
  protocol: protocolField(),
})
export type Port = Static<typeof Port>

/** Autoscaling between bounds on CPU, or null for a fixed count. */
export const Autoscaling = Type.Union(
  [
    closedObject({
      minReplicas: Type.Integer({ minimum: 1, maximum: 1000 }),
      maxReplicas: Type.Integer({ minimum: 1, maximum: 1000 }),
      targetCpuPercent: Type.Integer({ minimum: 1, maximum: 100 }),
    }),
    Type.Null(),
  ],
  { description: 'Autoscaling between the bounds, or null for a fixed count' },
)
export type Autoscaling = Static<typeof Autoscaling>

/** An application (one image) to run in a provisioned environment, replacing what ran there. */
export const DeployRequest = closedObject({
  key: key(),
  envId: envId(),
  app: slugField('The application name (deploy.yaml metadata.name)'),
  image: artifactRefField('The image to run, pinned by digest where known'),
  replicas: Type.Integer({ minimum: 0, maximum: 1000 }),
  resources: closedObject({
    cpu: Type.Number({ minimum: 0.01, maximum: 256, description: 'vCPUs per replica' }),
    memoryMiB: Type.Integer({ minimum: 16, maximum: 1_048_576, description: 'Memory per replica' }),
  }),
  ports: Type.Array(Port, { maxItems: 20 }),
  env: boundedRecord(envName(), Type.String({ minLength: 0, maxLength: 32_768 }), { maxProperties: 500 }),
  secrets: Type.Array(
    closedObject({
      env: envName(),
      ref: secretRefField('Where the value is kept; never the value'),
      version: Type.Optional(
        Type.Integer({
          minimum: 1,
          description:
            'The version the secrets context pinned for this deployment (set on the rollout): a new one rolls the workload',
        }),
      ),
    }),
    { maxItems: 100 },
  ),
  healthCheck: Type.Union(
    [
      closedObject({
        path: Type.String({ pattern: '^/', minLength: 1, maxLength: 512 }),
        port: portField('The port probed'),
        initialDelaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
        periodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
        timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
        failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      }),
      Type.Null(),
    ],
    { description: 'The readiness check, or null for none' },
  ),
  stateful: Type.Boolean(),
  volumes: Type.Array(
    closedObject({
      name: slugField('Volume name'),
      mountPath: Type.String({ pattern: '^/', minLength: 1, maxLength: 512 }),
      sizeGiB: Type.Integer({ minimum: 1, maximum: 65_536 }),
    }),
    { maxItems: 20 },
  ),
  autoscaling: Type.Optional(Autoscaling),
})
export type DeployRequest = Static<typeof DeployRequest>

/** How the application is reached. */
export const NetworkSpec = closedObject({
  key: key(),
  envId: envId(),
  app: Type.Optional(
    slugField("The application traffic goes to (the deploy's app); absent: the environment's one"),
  ),
  visibility: Type.Union([Type.Literal('public'), Type.Literal('private')]),
  hostnames: Type.Array(hostnameField('A hostname the application answers to'), {
    maxItems: 50,
    uniqueItems: true,
  }),
  tls: Type.Union([Type.Literal('required'), Type.Literal('optional'), Type.Literal('off')]),
  certificateRef: Type.Optional(
    secretRefField(
      'A certificate and key the tenant provides, by reference; absent: the provider issues one',
    ),
  ),
  port: portField('The application port traffic goes to'),
  protocol: protocolField(),
})
export type NetworkSpec = Static<typeof NetworkSpec>

/**
 * What an operator sets for a provider in its provider.yaml (`spec.settings`) that shapes what its
 * adapter creates; the adapter's renderer has a default for each.
 */
export const ProviderSettings = closedObject(
  {
    baseDomain: Type.Optional(hostnameField('Hostnames are given under it when a deployment names none')),
    ingressClass: Type.Optional(slugField('Kubernetes: the IngressClass Ingresses name')),
    ingressNamespace: Type.Optional(
      slugField("Kubernetes: the ingress controller's namespace, the only one whose pods reach environments"),
    ),
    clusterIssuer: Type.Optional(
      slugField('Kubernetes: the cert-manager ClusterIssuer certificates come from'),
    ),
    rateLimitRps: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        description: 'Requests a second each client address may make through the ingress controller',
      }),
    ),
    vmTemplate: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        pattern: '^[A-Za-z0-9][A-Za-z0-9 ._/-]*$',
        description: 'VMs: the template (a container host) VMs are cloned from',
      }),
    ),
  },
  { description: "The provider's settings, from its provider.yaml" },
)
export type ProviderSettings = Static<typeof ProviderSettings>

export const DeployPlan = closedObject(
  {
    deploymentId: idField("The orchestrator's deployment (saga) id"),
    tenantId: idField('The tenant'),
    projectId: idField('The project'),
    envId: envId(),
    environment: slugField("The environment's name"),
    platform: platformField('The platform family whose adapter renders the plan'),
    provider: providerField('The provider meant, as its provider.yaml names it'),
    manifestDigest: digestField('sha256: of the canonical deploy.yaml the plan was made from'),
    settings: ProviderSettings,
    provision: ProvisionRequest,
    deploy: DeployRequest,
    network: Type.Union([NetworkSpec, Type.Null()], {
      description: 'How the application is reached, or null when it listens on no port',
    }),
    secretGrant: Type.Optional(
      closedObject(
        {
          grantId: idField('The grant the adapter reads the values of deploy.secrets by (secrets context)'),
          expiresAt: Type.String({ format: 'date-time', description: 'When the grant stops reading values' }),
        },
        {
          description:
            'Set by the orchestrator on the rollout of a plan whose workload reads secrets: the values travel over HTTP, never here',
        },
      ),
    ),
  },
  {
    description:
      "One deployment on one provider: the manifest with the environment's overrides applied, as the SDK's calls",
  },
)
export type DeployPlan = Static<typeof DeployPlan>

const digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** A plan as the router makes it for a small web application: the fixture of the platform commands. */
export const deployPlanFixture = (platform: DeployPlan['platform'], provider: string): DeployPlan => ({
  deploymentId: 'dep_7f3a9c',
  tenantId: 'tnt_acme',
  projectId: 'prj_shop',
  envId: 'env_prod',
  environment: 'production',
  platform,
  provider,
  manifestDigest: digest,
  settings: {},
  provision: {
    key: 'dep_7f3a9c:provision',
    tenantId: 'tnt_acme',
    projectId: 'prj_shop',
    envId: 'env_prod',
    name: 'shop-production',
    quota: { cpu: 2, memoryMiB: 2048, storageGiB: 0 },
  },
  deploy: {
    key: 'dep_7f3a9c:deploy',
    envId: 'env_prod',
    app: 'shop',
    image: `registry.rxt.example/acme/shop@${digest}`,
    replicas: 3,
    resources: { cpu: 0.5, memoryMiB: 512 },
    ports: [{ name: 'http', port: 8080, protocol: 'http' }],
    env: { LOG_LEVEL: 'info' },
    secrets: [{ env: 'DATABASE_URL', ref: 'secret://shop/database-url' }],
    healthCheck: { path: '/healthz', port: 8080 },
    stateful: false,
    volumes: [],
  },
  network: {
    key: 'dep_7f3a9c:network',
    envId: 'env_prod',
    visibility: 'public',
    hostnames: ['shop.acme.example'],
    tls: 'required',
    port: 8080,
    protocol: 'http',
  },
})
