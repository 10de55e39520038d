import type { DeployManifest } from '@rxt/contracts/manifest'
import { named, portName, secretKeyRef, workloadName } from '@rxt/platform-sdk'
import type { PlatformObject, Translated, TranslationContext } from './context.ts'
import {
  ingress,
  ingressControllerNamespace,
  type Meta,
  networkPolicies,
  serviceNames,
  services,
} from './k8s-network.ts'
import { formatCpu, formatMiB } from './quantities.ts'

type Probe = NonNullable<NonNullable<DeployManifest['spec']['healthChecks']>['readiness']>

function probe(p: Probe): PlatformObject {
  // A port named in deploy.yaml is the container port's name, as derived for Kubernetes.
  const port = typeof p.port === 'string' ? portName(p.port) : p.port
  const action = p.path === undefined ? { tcpSocket: { port } } : { httpGet: { path: p.path, port } }
  return {
    ...action,
    initialDelaySeconds: p.initialDelaySeconds,
    periodSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    failureThreshold: p.failureThreshold,
  }
}

/** Plain env first, then secrets as secretKeyRef, each sorted by name so the output is stable. */
function containerEnv(spec: DeployManifest['spec']): PlatformObject[] {
  const plain = Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
  const secret = Object.entries(spec.secrets ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
  return [
    ...plain.map(([name, value]) => ({ name, value })),
    ...secret.map(([name, ref]) => ({ name, valueFrom: { secretKeyRef: secretKeyRef(ref) } })),
  ]
}

function podSpec(ctx: TranslationContext): PlatformObject {
  const { spec } = ctx.manifest
  const { cpu, memoryMiB, ephemeralMiB } = ctx.workload
  const compute = { cpu: formatCpu(cpu), memory: formatMiB(memoryMiB) }
  const sized = ephemeralMiB === null ? compute : { ...compute, 'ephemeral-storage': formatMiB(ephemeralMiB) }
  const volumes = spec.volumes ?? []
  const container = {
    name: ctx.app,
    image: ctx.image,
    imagePullPolicy: 'IfNotPresent',
    ports: ctx.ports.map((p) => ({ name: portName(p.name), containerPort: p.port, protocol: 'TCP' })),
    env: containerEnv(spec),
    resources: { requests: sized, limits: sized },
    ...(spec.healthChecks?.readiness ? { readinessProbe: probe(spec.healthChecks.readiness) } : {}),
    ...(spec.healthChecks?.liveness ? { livenessProbe: probe(spec.healthChecks.liveness) } : {}),
    volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
    securityContext: { allowPrivilegeEscalation: false },
  }
  const claims = spec.stateful
    ? []
    : volumes.map((v) => ({ name: v.name, persistentVolumeClaim: { claimName: named(ctx.app, v.name) } }))
  return {
    serviceAccountName: ctx.app,
    automountServiceAccountToken: false,
    securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    containers: [container],
    ...(claims.length > 0 ? { volumes: claims } : {}),
  }
}

function workloadObject(ctx: TranslationContext, meta: Meta): PlatformObject {
  const { spec } = ctx.manifest
  const template = { metadata: { labels: { ...ctx.labels } }, spec: podSpec(ctx) }
  // With autoscaling the HorizontalPodAutoscaler owns the replica count: a replicas field here
  // would reset it on every server-side apply.
  const common = {
    ...(spec.autoscaling === undefined ? { replicas: ctx.workload.replicas } : {}),
    selector: { matchLabels: { ...ctx.selector } },
  }
  if (!spec.stateful) {
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(workloadName(ctx.app)),
      spec: {
        ...common,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template,
      },
    }
  }
  const claimTemplates = (spec.volumes ?? []).map((v) => ({
    metadata: { name: v.name, labels: { ...ctx.labels } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: v.size } } },
  }))
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(workloadName(ctx.app)),
    spec: {
      ...common,
      serviceName: serviceNames(ctx.app).headless,
      updateStrategy: { type: 'RollingUpdate' },
      template,
      volumeClaimTemplates: claimTemplates,
    },
  }
}

function quota(ctx: TranslationContext): Record<string, string> {
  const { workload } = ctx
  const stateful = ctx.manifest.spec.stateful
  // A rolling update of a Deployment runs one replica more than the most it scales to.
  const pods = workload.maxReplicas + (stateful ? 0 : 1)
  const claimSets = stateful ? workload.maxReplicas : 1
  const volumes = ctx.manifest.spec.volumes ?? []
  const cpu = formatCpu(workload.cpu * pods)
  const memory = formatMiB(workload.memoryMiB * pods)
  return {
    'requests.cpu': cpu,
    'limits.cpu': cpu,
    'requests.memory': memory,
    'limits.memory': memory,
    ...(workload.ephemeralMiB === null
      ? {}
      : { 'requests.ephemeral-storage': formatMiB(workload.ephemeralMiB * pods) }),
    pods: String(pods),
    persistentvolumeclaims: String(volumes.length * claimSets),
    ...(volumes.length > 0 ? { 'requests.storage': formatMiB(workload.volumeGiB * 1024 * claimSets) } : {}),
  }
}

/** deploy.yaml as Kubernetes objects in one namespace, in the order they are applied. */
export function translateToKubernetes(ctx: TranslationContext): Translated {
  const { spec } = ctx.manifest
  const namespace = ctx.scope
  const meta: Meta = (name) => ({ name, namespace, labels: { ...ctx.labels } })
  const kind = spec.stateful ? 'StatefulSet' : 'Deployment'
  const web = ctx.ports.find((p) => p.protocol !== 'tcp')
  // Only a public workload is routed by the (public) ingress controller; a private one stays in-cluster.
  const routed =
    web !== undefined && ctx.hostnames.length > 0 && ctx.visibility === 'public' ? web : undefined
  const workload = workloadName(ctx.app)
  const hard = quota(ctx)

  const objects: PlatformObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { ...ctx.labels } } },
    { apiVersion: 'v1', kind: 'ResourceQuota', metadata: meta('quota'), spec: { hard } },
    {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: meta('limits'),
      spec: {
        limits: [
          {
            type: 'Container',
            default: { cpu: formatCpu(ctx.workload.cpu), memory: formatMiB(ctx.workload.memoryMiB) },
            defaultRequest: { cpu: formatCpu(ctx.workload.cpu), memory: formatMiB(ctx.workload.memoryMiB) },
            max: { cpu: formatCpu(ctx.workload.cpu), memory: formatMiB(ctx.workload.memoryMiB) },
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(ctx.app),
      automountServiceAccountToken: false,
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(ctx.app), rules: [] },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(ctx.app),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ctx.app },
      subjects: [{ kind: 'ServiceAccount', name: ctx.app, namespace }],
    },
    ...networkPolicies(ctx, meta, routed),
  ]
  const summary = [
    `Namespace ${namespace} (tenant ${ctx.target.tenantId}, project ${ctx.target.projectId}, environment ${ctx.target.environment})`,
    `ResourceQuota: ${hard['requests.cpu']} CPU, ${hard['requests.memory']} memory, ${hard.pods} pods, ${hard.persistentvolumeclaims} volume claims`,
    `ServiceAccount ${ctx.app} with a Role that grants no API access; its token is not mounted`,
    `NetworkPolicies: deny all, then allow the namespace, DNS to kube-system${
      routed === undefined
        ? ''
        : `, and ${ingressControllerNamespace} to port ${routed.name} (${routed.port})`
    }`,
  ]

  if (!spec.stateful) {
    for (const v of spec.volumes ?? []) {
      objects.push({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: meta(named(ctx.app, v.name)),
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: v.size } } },
      })
      summary.push(`PersistentVolumeClaim ${named(ctx.app, v.name)}: ${v.size} at ${v.mountPath}`)
    }
  }
  objects.push(workloadObject(ctx, meta))
  const count =
    spec.autoscaling === undefined
      ? `${ctx.workload.replicas} replica${ctx.workload.replicas === 1 ? '' : 's'}`
      : `${spec.autoscaling.minReplicas}–${spec.autoscaling.maxReplicas} replicas, as the HorizontalPodAutoscaler sets them (no replicas field)`
  summary.push(
    `${kind} ${workload}: ${count} of ${ctx.image}`,
    `Each replica: ${formatCpu(ctx.workload.cpu)} CPU, ${formatMiB(ctx.workload.memoryMiB)} memory`,
  )
  if (spec.stateful) {
    for (const v of spec.volumes ?? [])
      summary.push(`Volume ${v.name}: ${v.size} per replica at ${v.mountPath}`)
  }

  const svc = services(ctx, meta)
  objects.push(...svc.objects)
  summary.push(...svc.summary)

  if (spec.autoscaling !== undefined) {
    const { minReplicas, maxReplicas, targetCpuPercent } = spec.autoscaling
    objects.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta(workload),
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind, name: workload },
        minReplicas,
        maxReplicas,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: targetCpuPercent } },
          },
        ],
      },
    })
    summary.push(
      `HorizontalPodAutoscaler ${workload}: ${minReplicas}–${maxReplicas} replicas at ${targetCpuPercent}% CPU`,
    )
  }
  if (routed !== undefined) {
    const ing = ingress(ctx, meta, routed)
    objects.push(...ing.objects)
    summary.push(...ing.summary)
  } else if (ctx.visibility === 'private' && ctx.ports.length > 0) {
    const service = serviceNames(ctx.app).service
    const unpublished =
      ctx.hostnames.length > 0 ? `; network.hostnames ${ctx.hostnames.join(', ')} are not published` : ''
    summary.push(
      `No Ingress: network.visibility is private, so ${ctx.app} is reachable inside the cluster only, at ${service}.${namespace}.svc${unpublished}`,
    )
  }
  return { objects, summary }
}
