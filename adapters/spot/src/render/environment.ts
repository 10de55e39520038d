import { Annotation, ownerLabels, type ProvisionRequest } from '@rxt/platform-sdk'
import type { KubeObject } from './kube-object.ts'
import { cpu, EnvObject, environmentReader, memory, namespaceOf } from './names.ts'
import type { ClusterSettings } from './settings.ts'

const ownership = (request: ProvisionRequest) => ({
  labels: ownerLabels(request),
  annotations: {
    [Annotation.tenantId]: request.tenantId,
    [Annotation.projectId]: request.projectId,
    [Annotation.envId]: request.envId,
  },
})

/**
 * An environment: its namespace, first, then its quota and default limits, a least-privilege
 * identity, and network policies that deny everything but the same namespace, DNS and the ingress
 * controller.
 */
export function environmentObjects(request: ProvisionRequest, cluster: ClusterSettings): KubeObject[] {
  const namespace = namespaceOf(request)
  const own = ownership(request)
  const meta = (name: string) => ({ name, namespace, labels: own.labels })
  const { quota } = request
  const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(name),
    spec: { podSelector: {}, ...spec },
  })
  // A container that names no resources gets a small default, never more than the quota.
  const defaultCpu = Math.min(0.1, quota.cpu)
  const defaultMemory = Math.min(128, quota.memoryMiB)
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: {
          ...own.labels,
          ...(request.labels ?? {}),
          // Pods may not run privileged; the restricted profile's warnings tell tenants what to fix.
          'pod-security.kubernetes.io/enforce': 'baseline',
          'pod-security.kubernetes.io/warn': 'restricted',
        },
        annotations: own.annotations,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: meta(EnvObject.quota),
      spec: {
        hard: {
          'requests.cpu': cpu(quota.cpu),
          'limits.cpu': cpu(quota.cpu),
          'requests.memory': memory(quota.memoryMiB),
          'limits.memory': memory(quota.memoryMiB),
          'requests.storage': `${quota.storageGiB}Gi`,
          persistentvolumeclaims: String(quota.storageGiB === 0 ? 0 : 20),
          'services.loadbalancers': '2',
          'services.nodeports': '0',
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: meta(EnvObject.limits),
      spec: {
        limits: [
          {
            type: 'Container',
            default: { cpu: cpu(defaultCpu), memory: memory(defaultMemory) },
            defaultRequest: { cpu: cpu(defaultCpu), memory: memory(defaultMemory) },
            max: { cpu: cpu(quota.cpu), memory: memory(quota.memoryMiB) },
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(EnvObject.serviceAccount),
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(EnvObject.serviceAccount),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: environmentReader },
      subjects: [{ kind: 'ServiceAccount', name: EnvObject.serviceAccount, namespace }],
    },
    policy(EnvObject.denyAll, { policyTypes: ['Ingress', 'Egress'] }),
    policy(EnvObject.sameNamespace, {
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [{ to: [{ podSelector: {} }] }],
    }),
    policy(EnvObject.dns, {
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
    policy(EnvObject.ingressController, {
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchLabels: { 'kubernetes.io/metadata.name': cluster.ingressNamespace },
              },
            },
          ],
        },
      ],
    }),
  ]
}
