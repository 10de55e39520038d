import type { DeployPlan } from '@rxt/contracts'
import {
  Label,
  named,
  ownerLabels,
  type PlanRenderer,
  type PlatformObject,
  platformName,
  type RenderedPlan,
} from '@rxt/platform-sdk'

/**
 * The sddc-flex family's renderer, kept by the VM simulation until the SDDC Flex adapter owns it: a
 * plan as VM-side primitives — a folder, an NSX segment and distributed firewall rules when
 * provisioning, a VM per replica when deploying, an NSX load balancer (and its certificate) when
 * networking. Pure: the same plan gives the same objects.
 */

/** GiB of the boot disk every VM gets (the OS and the container runtime). */
export const vmBootDiskGiB = 20

/** The container runtime that runs the image on each VM. */
export const vmContainerRuntime = 'containerd'

/** The template VMs are cloned from when the provider.yaml names none: a container host. */
export const defaultVmTemplate = 'templates/container-host'

/** Distributed firewall rules are evaluated lowest sequence first: allows before the default deny. */
export const defaultDenySequence = 1000

/**
 * The registry a VM pulls its image from: the first part of the reference when it names a host
 * (`ghcr.io/acme/shop` → `ghcr.io`), else Docker Hub.
 */
export function registryOf(image: string): string {
  const [first = '', ...rest] = image.split('/')
  return rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io'
}

const sorted = (record: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)))

export function renderVmPlan(plan: DeployPlan): RenderedPlan {
  const { deploy, network } = plan
  const scope = platformName(plan.provision)
  const labels = { ...ownerLabels(plan.provision), [Label.name]: deploy.app }
  const segment = named(scope, 'segment')
  const rule = (name: string, sequenceNumber: number, rest: PlatformObject): PlatformObject => ({
    kind: 'NsxDistributedFirewallRule',
    name: named(scope, name),
    labels,
    appliedTo: [scope],
    sequenceNumber,
    ...rest,
  })
  const ports = deploy.ports
  const environment: PlatformObject[] = [
    {
      kind: 'VmFolder',
      name: scope,
      path: `rxt/${plan.tenantId}/${plan.projectId}/${scope}`,
      labels,
      quota: { ...plan.provision.quota },
    },
    { kind: 'NsxSegment', name: segment, labels, connectivity: 'tier-1' },
    rule('default-deny', defaultDenySequence, {
      sources: ['ANY'],
      destinations: ['ANY'],
      services: ['ANY'],
      direction: 'IN_OUT',
      action: 'DROP',
    }),
    ...(ports.length > 0
      ? [
          rule('allow-load-balancer', 10, {
            sources: [named(scope, 'lb')],
            destinations: [scope],
            services: ports.map((p) => `TCP/${p.port}`),
            direction: 'IN',
            action: 'ALLOW',
          }),
        ]
      : []),
    rule('allow-segment', 20, {
      sources: [scope],
      destinations: [scope],
      services: ['ANY'],
      direction: 'IN_OUT',
      action: 'ALLOW',
    }),
    rule('allow-dns', 30, {
      sources: [scope],
      destinations: ['ANY'],
      services: ['UDP/53', 'TCP/53'],
      direction: 'OUT',
      action: 'ALLOW',
    }),
    rule('allow-image-pull', 40, {
      sources: [scope],
      destinations: [registryOf(deploy.image)],
      services: ['TCP/443'],
      direction: 'OUT',
      action: 'ALLOW',
    }),
  ]
  // VMs take whole vCPUs, and memory in multiples of 4 MiB.
  const cpu = Math.max(1, Math.ceil(deploy.resources.cpu))
  const memoryMiB = Math.max(4, Math.ceil(deploy.resources.memoryMiB / 4) * 4)
  const vms = Array.from({ length: deploy.replicas }, (_, i) => named(scope, String(i)))
  const workload: PlatformObject[] = vms.map((name) => ({
    kind: 'VirtualMachine',
    name,
    folder: scope,
    segment,
    template: plan.settings.vmTemplate ?? defaultVmTemplate,
    labels,
    cpu,
    memoryMiB,
    diskGiB: vmBootDiskGiB,
    dataDisks: deploy.volumes.map((v) => ({
      name: v.name,
      sizeGiB: v.sizeGiB,
      mountPath: v.mountPath,
      type: 'vmdk',
      persistent: deploy.stateful,
    })),
    image: deploy.image,
    containerRuntime: vmContainerRuntime,
    ports: ports.map((p) => ({ name: p.name, port: p.port })),
    // Secrets by reference only: the VM's agent fetches each value with its own short-lived credentials.
    cloudInit: {
      env: sorted(deploy.env),
      secretRefs: Object.fromEntries(
        [...deploy.secrets].sort((a, b) => (a.env < b.env ? -1 : 1)).map((s) => [s.env, s.ref]),
      ),
    },
  }))
  const networked: PlatformObject[] = []
  if (network !== null) {
    const web = network.protocol === 'tcp' ? undefined : network
    const tls = web !== undefined && network.tls !== 'off'
    const internal = network.visibility === 'private'
    const listen = web === undefined ? [network.port] : network.tls === 'off' ? [80] : [443, 80]
    networked.push({
      kind: 'NsxLoadBalancer',
      name: named(scope, 'lb'),
      labels,
      segment,
      visibility: network.visibility,
      // Private: the virtual IP comes from the segment's internal pool; none is public.
      internal,
      pool: { name: named(scope, 'pool'), members: vms },
      virtualServer: {
        name: named(scope, 'vs'),
        vip: internal ? 'internal' : 'public',
        protocol: web === undefined ? 'TCP' : 'HTTP',
        ports: listen,
        poolPort: network.port,
        hostnames: [...network.hostnames],
        ...(tls ? { certificate: named(scope, 'tls'), redirectHttpToHttps: network.tls === 'required' } : {}),
      },
      healthMonitor:
        deploy.healthCheck === null
          ? { type: 'TCP', port: network.port, intervalSeconds: 10, timeoutSeconds: 1, fallCount: 3 }
          : {
              type: 'HTTP',
              port: deploy.healthCheck.port,
              path: deploy.healthCheck.path,
              intervalSeconds: deploy.healthCheck.periodSeconds ?? 10,
              timeoutSeconds: deploy.healthCheck.timeoutSeconds ?? 1,
              fallCount: deploy.healthCheck.failureThreshold ?? 3,
            },
    })
    if (tls && network.hostnames.length > 0)
      networked.push({
        kind: 'Certificate',
        name: named(scope, 'tls'),
        labels,
        dnsNames: [...network.hostnames],
        ...(network.certificateRef === undefined ? { issuer: 'acme' } : { provided: network.certificateRef }),
        usedBy: named(scope, 'lb'),
      })
  }
  const summary = [
    `VmFolder ${scope} with NsxSegment ${segment}; firewall: deny all, then the load balancer, the segment, DNS and ${registryOf(deploy.image)} for the image`,
    `${vms.length} VirtualMachine${vms.length === 1 ? '' : 's'} of ${deploy.image} under ${vmContainerRuntime}, each ${cpu} vCPU, ${memoryMiB} MiB, a ${vmBootDiskGiB} GiB boot disk` +
      (cpu !== deploy.resources.cpu
        ? ` (${deploy.resources.cpu} vCPU asked, rounded up to whole vCPUs)`
        : ''),
    ...networked.map((o) => `${String(o.kind)} ${String(o.name)}`),
  ]
  return { environment, workload, network: networked, summary }
}

/** The renderer of the sddc-flex family, contributed to the platform SDK's `planRenderers`. */
export const vmRenderer: PlanRenderer = { platform: 'sddc-flex', render: renderVmPlan }
