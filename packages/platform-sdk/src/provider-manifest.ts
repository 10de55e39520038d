import { closedObject, nameField, ProviderSettings, slugField } from '@rxt/contracts'
import { Compliance } from '@rxt/contracts/manifest'
import { createYamlLoader, type YamlResult } from '@rxt/contracts/yaml'
import { createExtensionPoint } from '@rxt/kit'
import Type, { type Static } from 'typebox'

/**
 * provider.yaml: what a compute provider is, what it can do, where and under which certifications it
 * runs, and what it costs. The router loads one per provider and chooses among them.
 */

export const providerApiVersions = ['rxt-deploy/provider/v1'] as const

const price = (description: string) => Type.Number({ minimum: 0, maximum: 1_000_000, description })

export const ProviderManifest = closedObject({
  apiVersion: Type.Literal('rxt-deploy/provider/v1'),
  kind: Type.Literal('ComputeProvider'),
  metadata: closedObject({
    name: slugField('The provider id: rxt-spot, sddc-flex, sim-container…'),
    displayName: nameField('Shown to people'),
    version: Type.String({
      pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$',
      description: 'Semantic version',
    }),
    simulated: Type.Boolean({
      default: false,
      description: 'A simulation: shown as such wherever people see it',
    }),
  }),
  spec: closedObject({
    capabilities: closedObject({
      compute: Type.Union([Type.Literal('k8s'), Type.Literal('vm')]),
      networking: Type.Array(
        Type.Union([Type.Literal('ingress'), Type.Literal('load-balancer'), Type.Literal('nsx')]),
        { minItems: 1, uniqueItems: true },
      ),
      storage: Type.Array(Type.Union([Type.Literal('pvc'), Type.Literal('vmdk')]), { uniqueItems: true }),
      protocols: Type.Array(
        Type.Union([
          Type.Literal('http'),
          Type.Literal('grpc'),
          Type.Literal('tcp'),
          Type.Literal('websocket'),
        ]),
        { minItems: 1, uniqueItems: true },
      ),
      tls: Type.Boolean(),
      autoscaling: Type.Boolean(),
      stateful: Type.Boolean({ description: 'Keeps volumes across restarts' }),
      gpu: Type.Boolean({ default: false }),
      encryptionAtRest: Type.Boolean({
        default: false,
        description: 'Volumes and disks are encrypted at rest (hipaa placement requires it)',
      }),
      max: closedObject(
        {
          cpu: Type.Number({ minimum: 0.1, description: 'vCPUs per replica or VM' }),
          memoryMiB: Type.Integer({ minimum: 64 }),
          storageGiB: Type.Integer({ minimum: 0 }),
          replicas: Type.Integer({ minimum: 1 }),
        },
        { description: 'The largest the provider takes' },
      ),
    }),
    constraints: closedObject({
      compliance: Type.Array(Type.Union(Object.values(Compliance).map((c) => Type.Literal(c))), {
        uniqueItems: true,
        description: 'Certifications the provider holds',
      }),
      regions: Type.Array(slugField('A region'), { minItems: 1, uniqueItems: true }),
    }),
    pricing: closedObject(
      {
        currency: Type.Literal('USD'),
        vcpuHour: price('Per vCPU-hour'),
        memoryGiBHour: price('Per GiB of memory per hour'),
        storageGiBMonth: price('Per GiB of storage per month'),
        egressGiB: price('Per GiB leaving the provider'),
        spot: Type.Optional(
          closedObject(
            {
              percentile: Type.Integer({ minimum: 1, maximum: 99, description: 'The percentile quoted' }),
              feed: Type.String({ format: 'uri', description: 'Where the spot price feed is read' }),
            },
            { description: 'Spot capacity: prices move; the feed gives the percentile price' },
          ),
        ),
      },
      { description: 'Pricing signals, for placement' },
    ),
    settings: Type.Optional(ProviderSettings),
  }),
})
export type ProviderManifest = Static<typeof ProviderManifest>

const load = createYamlLoader<typeof ProviderManifest, ProviderManifest>({
  fileName: 'provider.yaml',
  schema: ProviderManifest,
  maxBytes: 64 * 1024,
  apiVersions: providerApiVersions,
  topLevel: 'apiVersion, kind, metadata, spec',
})

/** Reads a provider.yaml: the guarded YAML reader, then the schema. Never throws. */
export const loadProviderManifest = (text: string): YamlResult<ProviderManifest> => load(text)

/**
 * The provider.yaml files offered when an operator lists none (the router's PROVIDER_FILES empty):
 * adapters contribute theirs (the simulations do, so the embedded default has providers).
 */
export const defaultProviderFiles = createExtensionPoint<string>('platform-sdk.default-provider-file')
