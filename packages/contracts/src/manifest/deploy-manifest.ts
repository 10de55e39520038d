import Type, { type Static } from 'typebox'
import {
  artifactRefField,
  closedObject,
  closedRecord,
  hostnameField,
  platformPreferenceField,
  portField,
  secretRefField,
  slugField,
} from '../fields.ts'
import { canonicalJson, toJsonSchema } from '../json-schema.ts'

/** The versions of deploy.yaml this build reads; a manifest names one in `apiVersion`. */
export const manifestApiVersions = ['rxt-deploy/v1'] as const
export const manifestKind = 'Application'

/** A Kubernetes-style quantity: `500m` or `0.5` CPUs, `512Mi` or `2Gi` of memory or storage. */
const cpuField = (description: string) =>
  Type.String({ pattern: '^([0-9]+m|[0-9]+(\\.[0-9]{1,3})?)$', maxLength: 16, description })
const bytesField = (description: string) =>
  Type.String({ pattern: '^[0-9]+(Ki|Mi|Gi|Ti)$', maxLength: 16, description })

/** An environment variable name, as POSIX shells accept it. */
const envName = '^[A-Za-z_][A-Za-z0-9_]*$'

export const Compliance = { pciDss: 'pci-dss', hipaa: 'hipaa', soc2: 'soc2' } as const

const Platform = closedObject(
  {
    preference: platformPreferenceField(
      'auto: placement decides; vm: SDDC Flex (VMware VMs); container: RXT Spot (Kubernetes)',
    ),
    constraints: Type.Optional(
      closedObject(
        {
          compliance: Type.Optional(
            Type.Array(
              Type.Union([
                Type.Literal(Compliance.pciDss),
                Type.Literal(Compliance.hipaa),
                Type.Literal(Compliance.soc2),
              ]),
              { uniqueItems: true, maxItems: 3, description: 'Certifications the platform must hold' },
            ),
          ),
          regions: Type.Optional(
            Type.Array(slugField('A region the workload may run in, e.g. us-east'), {
              uniqueItems: true,
              minItems: 1,
              maxItems: 20,
            }),
          ),
          maxMonthlyCost: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, maximum: 10_000_000, description: 'In US dollars a month' }),
          ),
        },
        { description: 'What the chosen platform must satisfy' },
      ),
    ),
  },
  { description: 'Where the workload may run' },
)

const Resources = closedObject(
  {
    cpu: Type.Optional(cpuField('CPUs per replica: 500m or 0.5')),
    memory: Type.Optional(bytesField('Memory per replica: 512Mi, 2Gi')),
    storage: Type.Optional(bytesField('Ephemeral storage per replica: 10Gi')),
  },
  { description: 'What one replica needs' },
)

const Autoscaling = closedObject(
  {
    minReplicas: Type.Integer({ minimum: 1, maximum: 1000 }),
    maxReplicas: Type.Integer({ minimum: 1, maximum: 1000 }),
    targetCpuPercent: Type.Integer({ minimum: 1, maximum: 100, default: 70 }),
  },
  { description: 'Scale between minReplicas and maxReplicas to hold the CPU target' },
)

const Volume = closedObject({
  name: slugField('The volume name'),
  mountPath: Type.String({
    pattern: '^/[^\\0]*$',
    maxLength: 1024,
    description: 'Absolute path in the workload',
  }),
  size: bytesField('Size: 10Gi'),
})

const Port = closedObject({
  name: slugField('The port name, referred to by health checks'),
  port: portField('The port the workload listens on'),
  protocol: Type.Union(
    [Type.Literal('http'), Type.Literal('grpc'), Type.Literal('tcp'), Type.Literal('websocket')],
    { default: 'http' },
  ),
})

const Probe = closedObject({
  path: Type.Optional(
    Type.String({ pattern: '^/', maxLength: 1024, description: 'HTTP path; TCP when absent' }),
  ),
  port: Type.Union([slugField('A port name'), portField('A port number')]),
  initialDelaySeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 0 }),
  periodSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
  timeoutSeconds: Type.Integer({ minimum: 1, maximum: 600, default: 1 }),
  failureThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
})

const HealthChecks = closedObject(
  {
    readiness: Type.Optional(Probe),
    liveness: Type.Optional(Probe),
  },
  { description: 'Readiness gates traffic; liveness restarts a replica that fails it' },
)

const Env = closedRecord(Type.String({ pattern: envName }), Type.String({ maxLength: 32_768 }), {
  description: 'Environment variables (plain values; secrets go in secrets)',
  maxProperties: 500,
})

const Secrets = closedRecord(
  Type.String({ pattern: envName }),
  secretRefField('secret://path of the secret'),
  {
    description: 'Environment variables filled from the secrets context: a reference, never the value',
    maxProperties: 200,
  },
)

const Network = closedObject(
  {
    visibility: Type.Union([Type.Literal('public'), Type.Literal('private')], { default: 'private' }),
    hostnames: Type.Optional(
      Type.Array(hostnameField('A hostname the workload answers to'), { uniqueItems: true, maxItems: 50 }),
    ),
    tls: Type.Union([Type.Literal('required'), Type.Literal('optional'), Type.Literal('off')], {
      default: 'required',
      description: 'required: HTTPS only; optional: both; off: HTTP only',
    }),
  },
  { description: 'How the workload is reached' },
)

const Build = closedObject(
  {
    fromCi: Type.Literal(true, {
      description:
        "The image is the one the project's CI built for the commit (see the project's ci settings)",
    }),
  },
  {
    description:
      "A build reference resolved from CI instead of a fixed image: the project's ci settings say where",
  },
)

/** What an environment may change: everything but the image, the build and statefulness. */
export const ManifestOverride = closedObject(
  {
    platform: Type.Optional(Platform),
    resources: Type.Optional(Resources),
    replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    autoscaling: Type.Optional(Autoscaling),
    env: Type.Optional(Env),
    secrets: Type.Optional(Secrets),
    network: Type.Optional(Network),
  },
  { description: 'Values for one environment; they replace the top-level ones' },
)
export type ManifestOverride = Static<typeof ManifestOverride>

const Spec = closedObject({
  image: Type.Optional(artifactRefField('The OCI image to run; or build')),
  build: Type.Optional(Build),
  platform: Type.Optional(Platform),
  resources: Type.Optional(Resources),
  replicas: Type.Integer({ minimum: 0, maximum: 1000, default: 1 }),
  autoscaling: Type.Optional(Autoscaling),
  stateful: Type.Boolean({ default: false, description: 'Keeps state on its volumes between restarts' }),
  volumes: Type.Optional(Type.Array(Volume, { maxItems: 20 })),
  ports: Type.Optional(Type.Array(Port, { maxItems: 20 })),
  healthChecks: Type.Optional(HealthChecks),
  env: Type.Optional(Env),
  secrets: Type.Optional(Secrets),
  network: Type.Optional(Network),
  environments: Type.Optional(
    // An override replaces the fields it names, so their defaults apply inside it (TypeBox fills a
    // record's values only when the value schema has a default of its own).
    closedRecord(
      slugField('An environment name'),
      closedObject(ManifestOverride.properties, {
        description: 'Values for one environment; they replace the top-level ones (defaults apply inside)',
        default: {},
      }),
      {
        maxProperties: 50,
        description: 'Per-environment overrides, by environment name',
      },
    ),
  ),
})

/** deploy.yaml, version 1: one application, where it may run, what it needs, and how it is reached. */
export const DeployManifest = closedObject(
  {
    apiVersion: Type.Literal('rxt-deploy/v1'),
    kind: Type.Literal(manifestKind),
    metadata: closedObject({
      name: slugField('The application name (a DNS label)'),
      description: Type.Optional(Type.String({ maxLength: 2000 })),
      labels: Type.Optional(
        closedRecord(
          Type.String({ pattern: '^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$', maxLength: 63 }),
          Type.String({ maxLength: 63 }),
          {
            maxProperties: 50,
          },
        ),
      ),
    }),
    spec: Spec,
  },
  { $id: 'deploy.json', title: 'deploy.yaml v1' },
)
export type DeployManifest = Static<typeof DeployManifest>

/** The JSON Schema of deploy.yaml (draft 2020-12), as docs/deploy.schema.json and GET /v1/schemas/deploy.json serve it. */
export function deployManifestJsonSchema(): string {
  return canonicalJson({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...toJsonSchema(DeployManifest),
  })
}
