import type { DeployPlan } from '@rxt/contracts'
import type { DeployManifest, ManifestOverride } from '@rxt/contracts/manifest'
import {
  applyEnvironment,
  describeWorkload,
  environmentName,
  mibToGiB,
  type ProviderManifest,
  parseBytesMiB,
} from '@rxt/platform-sdk'

/** Where a plan lands: the tenant, project, environment (its id and name) and the deployment. */
export interface PlanTarget {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  /** The environment's name: the key of `spec.environments` whose overrides apply. */
  readonly environment: string
  readonly deploymentId: string
}

/** The image a manifest that builds in CI runs when no artifact is known yet (a preview): a placeholder. */
export const ciImagePlaceholder = (projectId: string, app: string) =>
  `ci.invalid/${projectId.toLowerCase().replace(/[^a-z0-9._-]+/g, '-')}/${app}:built-by-ci`

/** A readiness probe's port as a number: a name is looked up among the manifest's ports. */
function probePort(manifest: DeployManifest, port: string | number): number | undefined {
  if (typeof port === 'number') return port
  return (manifest.spec.ports ?? []).find((p) => p.name === port)?.port
}

const httpLike = new Set(['http', 'grpc', 'websocket'])

/**
 * The one plan of a deployment on a provider: the manifest with both layers of the environment's
 * overrides applied, as the SDK's three calls (provision, deploy, network), with the provider's
 * settings. Pure and deterministic: the same input gives the same plan, so the preview and the
 * deployment agree.
 */
export function buildPlan(input: {
  readonly manifest: DeployManifest
  readonly manifestDigest: string
  readonly overrides?: ManifestOverride
  readonly target: PlanTarget
  readonly provider: ProviderManifest
  /**
   * The image to run, pinned by digest where known (the one CI built, or the manifest's image as the
   * deploy resolved it); absent (a preview): the manifest's own image, or a placeholder.
   */
  readonly artifactRef?: string
}): DeployPlan {
  const { target, provider } = input
  const manifest = applyEnvironment(input.manifest, target.environment, input.overrides)
  const { spec } = manifest
  const app = manifest.metadata.name
  const workload = describeWorkload(manifest)
  const ports = (spec.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol }))
  // Room beside the most replicas for a rolling update's extra pods (a quarter more, at least one).
  const room = spec.stateful ? 0 : Math.ceil(workload.maxReplicas / 4)
  const pods = workload.maxReplicas + room
  const claimSets = spec.stateful ? workload.maxReplicas : 1
  const readiness = spec.healthChecks?.readiness
  const readinessPort = readiness === undefined ? undefined : probePort(manifest, readiness.port)
  const web = ports.find((p) => httpLike.has(p.protocol))
  const entry = web ?? ports[0]
  const network = spec.network
  const regions = spec.platform?.constraints?.regions ?? []
  const keyOf = (step: string) => `${target.deploymentId}:${step}`
  return {
    deploymentId: target.deploymentId,
    tenantId: target.tenantId,
    projectId: target.projectId,
    envId: target.envId,
    environment: target.environment,
    platform: provider.spec.capabilities.compute === 'k8s' ? 'rxt-spot' : 'sddc-flex',
    provider: provider.metadata.name,
    manifestDigest: input.manifestDigest,
    settings: provider.spec.settings ?? {},
    provision: {
      key: keyOf('provision'),
      tenantId: target.tenantId,
      projectId: target.projectId,
      envId: target.envId,
      name: environmentName(app, target.environment),
      ...(regions.length === 1 && regions[0] !== undefined ? { region: regions[0] } : {}),
      quota: {
        cpu: Math.max(0.1, Math.round(workload.cpu * pods * 1000) / 1000),
        memoryMiB: Math.max(64, Math.ceil(workload.memoryMiB * pods)),
        storageGiB: Math.ceil(workload.volumeGiB * claimSets),
      },
    },
    deploy: {
      key: keyOf('deploy'),
      envId: target.envId,
      app,
      image: input.artifactRef ?? spec.image ?? ciImagePlaceholder(target.projectId, app),
      replicas: workload.replicas,
      resources: {
        cpu: Math.max(0.01, workload.cpu),
        memoryMiB: Math.max(16, Math.ceil(workload.memoryMiB)),
      },
      ports,
      env: Object.fromEntries(Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))),
      secrets: Object.entries(spec.secrets ?? {})
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([env, ref]) => ({ env, ref })),
      healthCheck:
        readiness?.path !== undefined && readinessPort !== undefined
          ? {
              path: readiness.path,
              port: readinessPort,
              initialDelaySeconds: readiness.initialDelaySeconds,
              periodSeconds: readiness.periodSeconds,
              timeoutSeconds: readiness.timeoutSeconds,
              failureThreshold: readiness.failureThreshold,
            }
          : null,
      stateful: spec.stateful,
      volumes: (spec.volumes ?? []).map((v) => ({
        name: v.name,
        mountPath: v.mountPath,
        sizeGiB: Math.max(1, Math.ceil(mibToGiB(parseBytesMiB(v.size)))),
      })),
      autoscaling:
        spec.autoscaling === undefined
          ? null
          : {
              minReplicas: spec.autoscaling.minReplicas,
              maxReplicas: spec.autoscaling.maxReplicas,
              targetCpuPercent: spec.autoscaling.targetCpuPercent,
            },
    },
    network:
      entry === undefined
        ? null
        : {
            key: keyOf('network'),
            envId: target.envId,
            app,
            visibility: network?.visibility ?? 'private',
            hostnames: [...new Set(network?.hostnames ?? [])],
            tls: network?.tls ?? 'required',
            port: entry.port,
            protocol: entry.protocol,
          },
  }
}
