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

/** The command that routes a provisioned deployment's traffic, on the provider that provisioned it. */
export type NetworkCommand =
  | { readonly type: 'cmd.spot.network.configure'; readonly data: Record<string, unknown> }
  | { readonly type: 'cmd.sddc.network.configure'; readonly data: Record<string, unknown> }

const httpLike = new Set(['http', 'grpc', 'websocket'])

/**
 * The network command for a deployment (its manifest with the environment's overrides applied):
 * hostnames, TLS (ACME unless `tls: off`), DNS records, and for Kubernetes the ingress rules and the
 * TCP load balancer of the translation, for VMs the NSX load balancer and its firewall rule. The
 * NetworkPolicies travel in the bundle (they select pods, which the command's CIDR rules cannot say).
 */
export function networkCommand(
  work: Pick<RouterProvision, 'envId' | 'deploymentId'>,
  manifest: DeployManifest,
  translation: Translation,
): NetworkCommand {
  const network = manifest.spec.network
  const hostnames = network?.hostnames ?? []
  const ports = manifest.spec.ports ?? []
  const web = ports.find((p) => httpLike.has(p.protocol))
  const tcp = ports.find((p) => p.protocol === 'tcp')
  const tlsOff = network?.tls === 'off'
  const common = {
    envId: work.envId,
    deploymentId: work.deploymentId,
    provider: translation.provider,
    tls: { mode: tlsOff ? 'none' : 'acme', certificateRef: null, minVersion: '1.2' },
    dns: {
      zone: hostnames[0]?.split('.').slice(1).join('.') || `${translation.provider}.invalid`,
      records: hostnames.map((name) => ({ name, type: 'CNAME', ttlSeconds: 300 })),
    },
  }
  if (translation.kind === 'k8s') {
    const namespace = translation.objects.find((o) => o.kind === 'Namespace')
    const ingress = translation.objects.find((o) => o.kind === 'Ingress') as
      | {
          spec?: {
            rules?: {
              host: string
              http?: { paths?: { path: string; backend: { service: { name: string } } }[] }
            }[]
          }
        }
      | undefined
    const lb = translation.objects.find(
      (o) => o.kind === 'Service' && (o.spec as { type?: string } | undefined)?.type === 'LoadBalancer',
    )
    return {
      type: 'cmd.spot.network.configure',
      data: {
        ...common,
        namespace: namespace === undefined ? '' : nameOf(namespace),
        ingressRules:
          web === undefined
            ? []
            : (ingress?.spec?.rules ?? []).flatMap((rule) =>
                (rule.http?.paths ?? []).map((p) => ({
                  host: rule.host,
                  path: p.path,
                  serviceName: p.backend.service.name,
                  servicePort: web.port,
                })),
              ),
        serviceLB: lb === undefined || tcp === undefined ? null : { port: tcp.port, targetPort: tcp.port },
        networkPolicies: [],
      },
    }
  }
  const member = web ?? tcp
  const readiness = manifest.spec.healthChecks?.readiness?.path
  const lbPort = member === undefined ? undefined : web !== undefined ? (tlsOff ? 80 : 443) : member.port
  return {
    type: 'cmd.sddc.network.configure',
    data: {
      ...common,
      nsxRoutes: [],
      nsxLB:
        member === undefined || lbPort === undefined
          ? null
          : {
              port: lbPort,
              memberPort: member.port,
              algorithm: 'round-robin',
              healthCheckPath: readiness ?? '/',
            },
      firewallRules:
        member === undefined
          ? []
          : [
              {
                name: 'allow-load-balancer',
                action: 'allow',
                direction: 'in',
                sources: network?.visibility === 'public' ? ['0.0.0.0/0'] : ['10.0.0.0/8'],
                ports: [member.port],
                protocol: 'tcp',
              },
            ],
    },
  }
}
