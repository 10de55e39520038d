import { createHash } from 'node:crypto'
import type { RouterProvision } from '@rxt/contracts'
import { canonical, type DeployManifest } from '@rxt/contracts/manifest'
import type { Translation } from './translate.ts'
import { describeWorkload } from './workload.ts'

/** The vApp template VM providers clone: a container host that runs the image (documented default). */
export const containerHostTemplate = 'templates/container-host'

/** The command that sends a deployment's work to a provider of the translation's kind. */
export type PlatformCommand =
  | {
      readonly type: 'cmd.spot.provision.request'
      readonly platform: 'rxt-spot'
      readonly data: Record<string, unknown>
    }
  | {
      readonly type: 'cmd.sddc.provision.request'
      readonly platform: 'sddc-flex'
      readonly data: Record<string, unknown>
    }

const nameOf = (o: Record<string, unknown>) =>
  String((o.metadata as { name?: unknown } | undefined)?.name ?? o.name ?? '')

/** sha256 of the translated objects in canonical JSON: the bundle the adapter applies. */
export const bundleDigest = (objects: readonly Record<string, unknown>[]) =>
  `sha256:${createHash('sha256').update(canonical(objects)).digest('hex')}`

/**
 * The platform command for a translated deployment: `cmd.spot.provision.request` for a Kubernetes
 * provider, `cmd.sddc.provision.request` for a VM provider, naming the provider meant. Pure.
 */
export function platformCommand(
  work: RouterProvision,
  manifest: DeployManifest,
  translation: Translation,
): PlatformCommand {
  const workload = describeWorkload(manifest)
  const common = {
    tenantId: work.tenantId,
    projectId: work.projectId,
    envId: work.envId,
    deploymentId: work.deploymentId,
    artifactRef: work.artifactRef,
    provider: translation.provider,
  }
  if (translation.kind === 'k8s') {
    const namespace = translation.objects.find((o) => o.kind === 'Namespace')
    return {
      type: 'cmd.spot.provision.request',
      platform: 'rxt-spot',
      data: {
        ...common,
        namespace: namespace === undefined ? '' : nameOf(namespace),
        helmChart: null,
        k8sManifests: {
          bundleDigest: bundleDigest(translation.objects),
          objects: translation.objects
            .filter((o) => o.kind !== 'Namespace')
            .slice(0, 200)
            .map((o) => ({ apiVersion: String(o.apiVersion), kind: String(o.kind), name: nameOf(o) })),
        },
        resources: {
          replicas: Math.max(1, workload.replicas),
          cpuMillicores: Math.max(10, Math.round(workload.cpu * 1000)),
          memoryMiB: Math.max(16, Math.round(workload.memoryMiB)),
          storageGiB: Math.ceil(workload.volumeGiB),
        },
      },
    }
  }
  const vms = translation.objects.filter((o) => o.kind === 'VirtualMachine')
  const folder = translation.objects.find((o) => o.kind === 'VmFolder')
  const first = vms[0] ?? {}
  return {
    type: 'cmd.sddc.provision.request',
    platform: 'sddc-flex',
    data: {
      ...common,
      vAppTemplateRef: containerHostTemplate,
      vmSpecs: [
        {
          name: manifest.metadata.name,
          count: Math.max(1, vms.length),
          cpu: Math.max(1, Number(first.cpu ?? 1)),
          memoryMiB: Math.max(256, Number(first.memoryMiB ?? 256)),
          diskGiB: Math.max(1, Number(first.diskGiB ?? 20)),
          guestOs: 'ubuntu64Guest',
        },
      ],
      resources: {
        resourcePool: `tenant-${work.tenantId}`,
        datastore: 'default',
        folder: folder === undefined ? work.envId : nameOf(folder),
      },
    },
  }
}
