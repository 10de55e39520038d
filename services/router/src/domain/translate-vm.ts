import type { DeployManifest } from '@rxt/contracts/manifest'
import { named, type PlatformObject, type Translated, type TranslationContext } from './context.ts'
import { mibToGiB, parseBytesMiB } from './quantities.ts'

/** GiB of the boot disk every VM gets (the OS and the container runtime), before ephemeral storage. */
export const vmBootDiskGiB = 20

/** The container runtime that runs the image on each VM. */
export const vmContainerRuntime = 'containerd'

/** Distributed firewall rules are evaluated lowest sequence first: allows before the default deny. */
export const defaultDenySequence = 1000

type Port = TranslationContext['ports'][number]
type Probe = NonNullable<NonNullable<DeployManifest['spec']['healthChecks']>['readiness']>

const sortedEntries = (record: Readonly<Record<string, string>> | undefined) =>
  Object.entries(record ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))

/** A probe's port as a number: a name is looked up among the manifest's ports. */
function portNumber(ctx: TranslationContext, port: string | number): number | string {
  if (typeof port === 'number') return port
  return ctx.ports.find((p) => p.name === port)?.port ?? port
}

function probe(ctx: TranslationContext, p: Probe): PlatformObject {
  return {
    type: p.path === undefined ? 'TCP' : 'HTTP',
    port: portNumber(ctx, p.port),
    ...(p.path === undefined ? {} : { path: p.path }),
    initialDelaySeconds: p.initialDelaySeconds,
    intervalSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    fallCount: p.failureThreshold,
  }
}

/** The ports a virtual server listens on: the web entry on 443 and 80 (80 alone without TLS), others as is. */
function listenPorts(ctx: TranslationContext, port: Port, web: Port | undefined): number[] {
  if (port !== web) return [port.port]
  return ctx.tls === 'off' ? [80] : [443, 80]
}

function loadBalancer(
  ctx: TranslationContext,
  vms: readonly string[],
  web: Port | undefined,
): PlatformObject {
  const readiness = ctx.manifest.spec.healthChecks?.readiness
  const first = ctx.ports[0]
  const monitor =
    readiness !== undefined
      ? probe(ctx, readiness)
      : { type: 'TCP', port: first?.port, intervalSeconds: 10, timeoutSeconds: 1, fallCount: 3 }
  const tls = web !== undefined && ctx.tls !== 'off'
  const internal = ctx.visibility === 'private'
  return {
    kind: 'NsxLoadBalancer',
    name: named(ctx.scope, 'lb'),
    labels: { ...ctx.labels },
    segment: named(ctx.scope, 'segment'),
    visibility: ctx.visibility,
    // Private: every virtual IP comes from the segment's internal pool; none is public.
    internal,
    pool: { name: named(ctx.scope, 'pool'), members: [...vms] },
    virtualServers: ctx.ports.map((p) => ({
      name: named(ctx.scope, p.name),
      vip: internal ? 'internal' : 'public',
      protocol: p.protocol === 'tcp' ? 'TCP' : 'HTTP',
      ports: listenPorts(ctx, p, web),
      poolPort: p.port,
      ...(p === web ? { hostnames: [...ctx.hostnames] } : {}),
      ...(p === web && tls
        ? { certificate: named(ctx.scope, 'tls'), redirectHttpToHttps: ctx.tls === 'required' }
        : {}),
    })),
    healthMonitor: monitor,
  }
}

/**
 * The registry a VM pulls its image from: the first part of the reference when it names a host
 * (`ghcr.io/acme/shop` → `ghcr.io`), else Docker Hub; a placeholder image has a placeholder registry.
 */
export function registryOf(image: string): string {
  if (image.startsWith('<')) return '<the registry of that image>'
  const [first = '', ...rest] = image.split('/')
  return rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io'
}

/** Default deny, then what the workload needs: the load balancer to the pool ports, the segment, DNS, its registry. */
function firewall(ctx: TranslationContext): PlatformObject[] {
  const group = ctx.scope
  const rule = (name: string, sequenceNumber: number, rest: PlatformObject): PlatformObject => ({
    kind: 'NsxDistributedFirewallRule',
    name: named(ctx.scope, name),
    labels: { ...ctx.labels },
    appliedTo: [group],
    sequenceNumber,
    ...rest,
  })
  const rules = [
    rule('default-deny', defaultDenySequence, {
      sources: ['ANY'],
      destinations: ['ANY'],
      services: ['ANY'],
      direction: 'IN_OUT',
      action: 'DROP',
    }),
  ]
  if (ctx.ports.length > 0) {
    rules.push(
      rule('allow-load-balancer', 10, {
        sources: [named(ctx.scope, 'lb')],
        destinations: [group],
        services: ctx.ports.map((p) => `TCP/${p.port}`),
        direction: 'IN',
        action: 'ALLOW',
      }),
    )
  }
  rules.push(
    rule('allow-segment', 20, {
      sources: [group],
      destinations: [group],
      services: ['ANY'],
      direction: 'IN_OUT',
      action: 'ALLOW',
    }),
    rule('allow-dns', 30, {
      sources: [group],
      destinations: ['ANY'],
      services: ['UDP/53', 'TCP/53'],
      direction: 'OUT',
      action: 'ALLOW',
    }),
    rule('allow-image-pull', 40, {
      sources: [group],
      destinations: [registryOf(ctx.image)],
      services: ['TCP/443'],
      direction: 'OUT',
      action: 'ALLOW',
    }),
  )
  return rules
}

/** deploy.yaml as SDDC-style VM primitives: a folder, a segment, a VM per replica, a load balancer, firewall. */
export function translateToVms(ctx: TranslationContext): Translated {
  const { spec } = ctx.manifest
  const { workload } = ctx
  const web = ctx.hostnames.length > 0 ? ctx.ports.find((p) => p.protocol !== 'tcp') : undefined
  // VMs take whole vCPUs, and memory in multiples of 4 MiB.
  const cpu = Math.max(1, Math.ceil(workload.cpu))
  const memoryMiB = Math.max(4, Math.ceil(workload.memoryMiB / 4) * 4)
  const diskGiB = vmBootDiskGiB + Math.ceil(mibToGiB(workload.ephemeralMiB ?? 0))
  const names = Array.from({ length: workload.replicas }, (_, i) => named(ctx.scope, String(i)))
  const cloudInit = {
    env: Object.fromEntries(sortedEntries(spec.env)),
    secretRefs: Object.fromEntries(sortedEntries(spec.secrets)),
  }
  const liveness = spec.healthChecks?.liveness

  const objects: PlatformObject[] = [
    {
      kind: 'VmFolder',
      name: ctx.scope,
      path: `rxt/${ctx.target.tenantId}/${ctx.target.projectId}/${ctx.scope}`,
      labels: { ...ctx.labels },
    },
    {
      kind: 'NsxSegment',
      name: named(ctx.scope, 'segment'),
      labels: { ...ctx.labels },
      connectivity: 'tier-1',
    },
    ...firewall(ctx),
    ...names.map((name) => ({
      kind: 'VirtualMachine',
      name,
      folder: ctx.scope,
      segment: named(ctx.scope, 'segment'),
      labels: { ...ctx.labels },
      cpu,
      memoryMiB,
      diskGiB,
      dataDisks: (spec.volumes ?? []).map((v) => ({
        name: v.name,
        sizeGiB: Math.ceil(mibToGiB(parseBytesMiB(v.size))),
        mountPath: v.mountPath,
        type: 'vmdk',
        persistent: spec.stateful,
      })),
      image: ctx.image,
      containerRuntime: vmContainerRuntime,
      ports: ctx.ports.map((p) => ({ name: p.name, port: p.port })),
      cloudInit,
      ...(liveness === undefined ? {} : { liveness: probe(ctx, liveness) }),
    })),
  ]
  const summary = [
    `VmFolder ${ctx.scope} (tenant ${ctx.target.tenantId}, project ${ctx.target.projectId}, environment ${ctx.target.environment})`,
    `NsxSegment ${named(ctx.scope, 'segment')}`,
    `VirtualMachines ${ctx.app}: ${names.length} VM${names.length === 1 ? '' : 's'} running ${ctx.image} under ${vmContainerRuntime}`,
    `Each VM: ${cpu} vCPU, ${memoryMiB} MiB memory, ${diskGiB} GiB boot disk` +
      (cpu !== workload.cpu ? ` (${workload.cpu} vCPU asked, rounded up to whole vCPUs)` : ''),
  ]
  for (const v of spec.volumes ?? []) {
    summary.push(
      `Data disk ${v.name}: ${v.size} on each VM at ${v.mountPath}${spec.stateful ? ', kept across restarts' : ''}`,
    )
  }
  if (spec.autoscaling !== undefined) {
    const { minReplicas, maxReplicas, targetCpuPercent } = spec.autoscaling
    summary.push(
      `Autoscaling: ${minReplicas}–${maxReplicas} VMs at ${targetCpuPercent}% CPU, each like the ones above`,
    )
  }
  if (ctx.ports.length > 0) {
    objects.push(loadBalancer(ctx, names, web))
    const servers = ctx.ports.map((p) => `${listenPorts(ctx, p, web).join('+')}→${p.port}/${p.protocol}`)
    const reach =
      ctx.visibility === 'private'
        ? 'private: internal virtual IPs on the segment only, no public virtual server'
        : 'public virtual IPs'
    summary.push(`NsxLoadBalancer ${named(ctx.scope, 'lb')} (${reach}): ${servers.join(', ')}`)
  }
  if (web !== undefined && ctx.tls !== 'off') {
    objects.push({
      kind: 'Certificate',
      name: named(ctx.scope, 'tls'),
      labels: { ...ctx.labels },
      dnsNames: [...ctx.hostnames],
      issuer: 'acme',
      usedBy: named(ctx.scope, 'lb'),
    })
    summary.push(`Certificate ${named(ctx.scope, 'tls')} for ${ctx.hostnames.join(', ')} (TLS ${ctx.tls})`)
  }
  summary.push(
    `Firewall: deny all, then allow ${ctx.ports.length > 0 ? 'the load balancer to the pool ports, ' : ''}the segment, DNS, and HTTPS to ${registryOf(ctx.image)} for the image`,
  )
  return { objects, summary }
}
