import type { EnvironmentStatus, ResourceRef } from '@rxt/platform-sdk'
import { Annotation } from '@rxt/platform-sdk'
import { EnvObject, type KubeObject } from './render/index.ts'

/**
 * Reading an environment's state off its Kubernetes objects: pure, from what the adapter listed.
 */

type Workload = KubeObject & {
  metadata: KubeObject['metadata'] & { generation?: number; annotations?: Record<string, string> }
  spec?: { replicas?: number }
  status?: {
    observedGeneration?: number
    replicas?: number
    updatedReplicas?: number
    readyReplicas?: number
    availableReplicas?: number
    currentRevision?: string
    updateRevision?: string
    conditions?: { type: string; status: string; reason?: string; message?: string }[]
  }
}

/** Whether a Deployment or StatefulSet has rolled out: every replica updated, ready and no old one left. */
export function rolledOut(object: KubeObject): boolean {
  const w = object as Workload
  const desired = w.spec?.replicas ?? 1
  const s = w.status ?? {}
  if ((s.observedGeneration ?? 0) < (w.metadata.generation ?? 1)) return false
  if ((s.updatedReplicas ?? 0) !== desired || (s.readyReplicas ?? 0) !== desired) return false
  if (w.kind === 'StatefulSet') return s.currentRevision === s.updateRevision
  return (s.replicas ?? 0) === desired && (s.availableReplicas ?? 0) === desired
}

/** Why a rollout stopped, when it did (a Deployment past its progress deadline). */
export function stalled(object: KubeObject): string | undefined {
  const condition = (object as Workload).status?.conditions?.find(
    (c) => c.type === 'Progressing' && c.status === 'False',
  )
  return condition === undefined ? undefined : (condition.message ?? condition.reason ?? 'rollout stalled')
}

/** The objects every environment has, named as the adapter names them. */
export const environmentResources = (namespace: string): ResourceRef[] => [
  { kind: 'Namespace', id: namespace },
  { kind: 'ResourceQuota', id: `${namespace}/${EnvObject.quota}` },
  { kind: 'LimitRange', id: `${namespace}/${EnvObject.limits}` },
  { kind: 'ServiceAccount', id: `${namespace}/${EnvObject.serviceAccount}` },
  { kind: 'RoleBinding', id: `${namespace}/${EnvObject.serviceAccount}` },
  ...[EnvObject.denyAll, EnvObject.sameNamespace, EnvObject.dns, EnvObject.ingressController].map((n) => ({
    kind: 'NetworkPolicy',
    id: `${namespace}/${n}`,
  })),
]

export const refOf = (object: KubeObject): ResourceRef => ({
  kind: object.kind,
  id:
    object.metadata.namespace === undefined
      ? object.metadata.name
      : `${object.metadata.namespace}/${object.metadata.name}`,
})

type Ingress = KubeObject & {
  spec?: { tls?: { hosts?: string[] }[]; rules?: { host?: string }[] }
}

/** The URLs an Ingress serves: https where its TLS covers the host. */
export function urlsOf(ingress: KubeObject): string[] {
  const spec = (ingress as Ingress).spec ?? {}
  const secured = new Set((spec.tls ?? []).flatMap((t) => t.hosts ?? []))
  return (spec.rules ?? [])
    .map((r) => r.host)
    .filter((h): h is string => h !== undefined)
    .map((h) => `${secured.has(h) ? 'https' : 'http'}://${h}/`)
}

/** An environment's status, from its namespace and what it runs. */
export function statusOf(
  envId: string,
  namespace: KubeObject,
  objects: { workloads: KubeObject[]; ingresses: KubeObject[]; others: KubeObject[] },
): EnvironmentStatus {
  const name = namespace.metadata.name
  const resources = [
    ...environmentResources(name),
    ...[...objects.workloads, ...objects.ingresses, ...objects.others].map(refOf),
  ]
  const urls = objects.ingresses.flatMap(urlsOf)
  const terminating = (namespace as { status?: { phase?: string } }).status?.phase === 'Terminating'
  const base = { envId, urls, resources }
  if (terminating)
    return {
      ...base,
      phase: 'degraded',
      message: `namespace ${name} is being deleted`,
      revision: null,
      image: null,
      replicas: { desired: 0, ready: 0 },
      healthy: false,
    }
  if (objects.workloads.length === 0)
    return {
      ...base,
      phase: 'provisioned',
      message: `namespace ${name} is ready; nothing is deployed`,
      revision: null,
      image: null,
      replicas: { desired: 0, ready: 0 },
      healthy: false,
    }
  const workloads = objects.workloads as Workload[]
  // The most recently deployed workload speaks for the environment's revision and image.
  const latest = workloads.reduce((a, b) => (revisionOf(b) > revisionOf(a) ? b : a))
  const desired = workloads.reduce((n, w) => n + (w.spec?.replicas ?? 1), 0)
  const ready = workloads.reduce((n, w) => n + (w.status?.readyReplicas ?? 0), 0)
  const stall = workloads.map(stalled).find((s) => s !== undefined)
  const done = workloads.every(rolledOut)
  const phase = stall !== undefined ? 'degraded' : done ? 'ready' : 'progressing'
  return {
    ...base,
    phase,
    message:
      phase === 'degraded'
        ? `rollout stalled: ${stall}`
        : phase === 'ready'
          ? `${ready} of ${desired} replicas ready in namespace ${name}`
          : `rolling out: ${ready} of ${desired} replicas ready in namespace ${name}`,
    revision: revisionOf(latest) || null,
    image: latest.metadata.annotations?.[Annotation.image] ?? null,
    replicas: { desired, ready },
    healthy: done && ready === desired,
  }
}

export const revisionOf = (workload: KubeObject) =>
  Number(workload.metadata.annotations?.[Annotation.revision] ?? 0)
