import {
  type DeployRequest,
  dnsLabel,
  labelValue,
  type NetworkSpec,
  named,
  type ProvisionRequest,
  portName,
  type ScaleSpec,
  secretKeyRef,
  secretName,
  serviceName,
  shortHash,
} from '@rxt/platform-sdk'

/**
 * The Kubernetes objects of an environment, rendered from the SDK's requests: pure, so what the
 * adapter applies can be read and tested without a cluster. Every object carries the labels that
 * say who owns it; the adapter applies them with server-side apply.
 */

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    resourceVersion?: string
  }
  [field: string]: unknown
}

/** What the operator sets for the cluster the adapter drives. */
export interface ClusterSettings {
  /** The IngressClass Ingresses name. */
  readonly ingressClass: string
  /** The namespace the ingress controller runs in: its pods may reach the environments. */
  readonly ingressNamespace: string
  /** Hostnames are given under it when a network spec names none. */
  readonly baseDomain: string
  /** The cert-manager ClusterIssuer certificates are asked of. */
  readonly clusterIssuer: string
  /** Requests a second each client address may make through the ingress controller. */
  readonly rateLimitRps: number
}

export const managedBy = 'rxt-deploy'
const prefix = 'deploy.rxt.dev'
export const Label = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  tenant: `${prefix}/tenant`,
  project: `${prefix}/project`,
  environment: `${prefix}/environment`,
} as const
export const Annotation = {
  tenantId: `${prefix}/tenant-id`,
  projectId: `${prefix}/project-id`,
  envId: `${prefix}/env-id`,
  revision: `${prefix}/revision`,
  requestDigest: `${prefix}/request-digest`,
  image: `${prefix}/image`,
  /** The deploy request (without its key) a pod template was rendered from: what a rollback deploys again. */
  request: `${prefix}/request`,
} as const

/** Names of the objects every environment has. */
export const EnvObject = {
  quota: 'rxt-quota',
  limits: 'rxt-limits',
  /** The environment's identity: the kubeconfig broker's tokens are for it. */
  serviceAccount: 'rxt-env',
  denyAll: 'rxt-default-deny',
  sameNamespace: 'rxt-allow-same-namespace',
  dns: 'rxt-allow-dns',
  ingressController: 'rxt-allow-ingress-controller',
} as const

/** The label selecting an environment's namespace. */
export const environmentSelector = (envId: string) => `${Label.environment}=${labelValue(envId)}`

/**
 * The namespace of an environment, named as the router names platforms: its name (unique per tenant),
 * `-` and 8 hex of sha256(`<tenantId>/<envId>`), so two tenants' environments never meet in a cluster.
 */
export const namespaceOf = (request: Pick<ProvisionRequest, 'name' | 'tenantId' | 'envId'>) =>
  `${dnsLabel(request.name, 63 - 9)}-${shortHash(`${request.tenantId}/${request.envId}`)}`

/** The Services of an app, each a DNS-1035 label as the API server demands. */
export const serviceNames = (app: string) => ({
  /** Its ports, in the cluster (headless for a StatefulSet). */
  service: serviceName(app),
  /** The Ingress's backend. */
  ingress: serviceName(named(app, 'ingress')),
  /** A public TCP load balancer. */
  public: serviceName(named(app, 'public')),
})

const cpu = (vcpus: number) => `${Math.round(vcpus * 1000)}m`
const memory = (mib: number) => `${mib}Mi`

const ownership = (request: ProvisionRequest) => ({
  labels: {
    [Label.managedBy]: managedBy,
    [Label.tenant]: labelValue(request.tenantId),
    [Label.project]: labelValue(request.projectId),
    [Label.environment]: labelValue(request.envId),
  },
  annotations: {
    [Annotation.tenantId]: request.tenantId,
    [Annotation.projectId]: request.projectId,
    [Annotation.envId]: request.envId,
  },
})

/**
 * The ClusterRole an environment's identity is bound to in its namespace (deploy/rbac.yaml): read its
 * workloads, logs and events, nothing else. A ClusterRole bound per namespace, so the adapter needs only
 * `bind` on it, not every permission it grants.
 */
export const environmentReader = 'rxt-deploy:environment-reader'

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

/** The labels a workload's pods carry, and its selector. */
export const appLabels = (app: string) => ({ [Label.name]: app, [Label.managedBy]: managedBy })

/** A deploy: the workload (a StatefulSet when stateful), its Service and, for a Deployment, its volumes' claims. */
export function workloadObjects(
  namespace: string,
  request: DeployRequest,
  revision: number,
  digest: string,
  options: { autoscaled: boolean },
): KubeObject[] {
  const { app } = request
  const labels = appLabels(app)
  const meta = (name: string) => ({ name, namespace, labels })
  const probe = request.healthCheck && {
    httpGet: { path: request.healthCheck.path, port: request.healthCheck.port },
    periodSeconds: 10,
  }
  const resources = { cpu: cpu(request.resources.cpu), memory: memory(request.resources.memoryMiB) }
  const claims = request.volumes.map((v) => ({
    metadata: { name: v.name, labels },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${v.sizeGiB}Gi` } } },
  }))
  const template = {
    metadata: {
      labels,
      annotations: {
        [Annotation.revision]: String(revision),
        [Annotation.request]: JSON.stringify({ ...request, key: undefined }),
      },
    },
    spec: {
      automountServiceAccountToken: false,
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: app,
          image: request.image,
          ports: request.ports.map((p) => ({
            name: portName(p.name),
            containerPort: p.port,
            protocol: 'TCP',
          })),
          env: [
            ...Object.entries(request.env).map(([name, value]) => ({ name, value })),
            // Secrets by reference: the value stays in the Secret the secrets service keeps.
            ...request.secrets.map((s) => ({
              name: s.env,
              valueFrom: { secretKeyRef: secretKeyRef(s.ref) },
            })),
          ],
          resources: { requests: resources, limits: resources },
          securityContext: { allowPrivilegeEscalation: false },
          ...(probe ? { readinessProbe: probe, livenessProbe: { ...probe, failureThreshold: 6 } } : {}),
          volumeMounts: request.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
        },
      ],
      ...(request.stateful
        ? {}
        : {
            volumes: request.volumes.map((v) => ({
              name: v.name,
              persistentVolumeClaim: { claimName: `${app}-${v.name}` },
            })),
          }),
    },
  }
  const annotations = {
    [Annotation.revision]: String(revision),
    [Annotation.requestDigest]: digest,
    [Annotation.image]: request.image,
  }
  // Under an autoscaler the replica count is its to set.
  const replicas = options.autoscaled ? {} : { replicas: request.replicas }
  const workload: KubeObject = request.stateful
    ? {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { ...meta(app), annotations },
        spec: {
          ...replicas,
          serviceName: serviceNames(app).service,
          selector: { matchLabels: labels },
          template,
          volumeClaimTemplates: claims,
          revisionHistoryLimit: 10,
        },
      }
    : {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { ...meta(app), annotations },
        spec: {
          ...replicas,
          selector: { matchLabels: labels },
          template,
          revisionHistoryLimit: 10,
          progressDeadlineSeconds: 600,
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
        },
      }
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(serviceNames(app).service),
    spec: {
      type: 'ClusterIP',
      selector: labels,
      // A StatefulSet's pods are named through a headless Service.
      ...(request.stateful ? { clusterIP: 'None' } : {}),
      ports: request.ports.map((p) => ({
        name: portName(p.name),
        port: p.port,
        targetPort: p.port,
        protocol: 'TCP',
        ...(p.protocol === 'grpc' ? { appProtocol: 'grpc' } : {}),
      })),
    },
  }
  const volumeClaims: KubeObject[] = request.stateful
    ? []
    : claims.map((c) => ({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { ...c.metadata, name: `${app}-${c.metadata.name}`, namespace },
        spec: c.spec,
      }))
  return [...volumeClaims, workload, ...(request.ports.length > 0 ? [service] : [])]
}

/** The replica count of a scale, and its autoscaler (autoscaling/v2) when it has one. */
export function scaleObjects(
  namespace: string,
  workload: { kind: string; name: string },
  spec: ScaleSpec,
): { replicas: KubeObject; autoscaler: KubeObject | undefined } {
  const replicas: KubeObject = {
    apiVersion: 'apps/v1',
    kind: workload.kind,
    metadata: { name: workload.name, namespace },
    spec: { replicas: spec.replicas },
  }
  const autoscaler: KubeObject | undefined =
    spec.autoscaling === null
      ? undefined
      : {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: workload.name, namespace, labels: appLabels(workload.name) },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: workload.kind, name: workload.name },
            minReplicas: spec.autoscaling.minReplicas,
            maxReplicas: spec.autoscaling.maxReplicas,
            metrics: [
              {
                type: 'Resource',
                resource: {
                  name: 'cpu',
                  target: { type: 'Utilization', averageUtilization: spec.autoscaling.targetCpuPercent },
                },
              },
            ],
          },
        }
  return { replicas, autoscaler }
}

/** Annotations the ingress controller (ingress-nginx) reads for a protocol and the rate limit. */
const ingressAnnotations = (spec: NetworkSpec, cluster: ClusterSettings): Record<string, string> => ({
  'nginx.ingress.kubernetes.io/limit-rps': String(cluster.rateLimitRps),
  'nginx.ingress.kubernetes.io/limit-burst-multiplier': '5',
  ...(spec.tls === 'required' ? { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' } : {}),
  ...(spec.protocol === 'grpc' ? { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' } : {}),
  ...(spec.protocol === 'websocket'
    ? {
        'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
        'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
      }
    : {}),
})

/** How long certificates cert-manager issues live, and when it renews them. */
export const certificateDuration = { hours: 2160, renewBeforeHours: 720 }

/**
 * How an application is reached: public HTTP, gRPC and WebSocket through an Ingress (with a
 * cert-manager Certificate for TLS), public TCP through a LoadBalancer Service, private not at all
 * from outside.
 */
export function networkObjects(
  namespace: string,
  app: string,
  spec: NetworkSpec,
  hostnames: readonly string[],
  cluster: ClusterSettings,
): KubeObject[] {
  if (spec.visibility === 'private') return []
  const labels = appLabels(app)
  const meta = (name: string) => ({ name, namespace, labels })
  if (spec.protocol === 'tcp') {
    return [
      // Default deny covers the load balancer's traffic too: its port is let in from anywhere.
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta(serviceNames(app).public),
        spec: {
          podSelector: { matchLabels: labels },
          policyTypes: ['Ingress'],
          ingress: [{ ports: [{ protocol: 'TCP', port: spec.port }] }],
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(serviceNames(app).public),
        spec: {
          type: 'LoadBalancer',
          // No node port: the load balancer reaches pods directly, and the quota allows no node ports.
          allocateLoadBalancerNodePorts: false,
          selector: labels,
          ports: [{ name: 'tcp', port: spec.port, targetPort: spec.port, protocol: 'TCP' }],
        },
      },
    ]
  }
  const tls = spec.tls !== 'off'
  // A provided certificate is the tenant's Secret; otherwise cert-manager issues one into `<app>-tls`.
  const provided = spec.certificateRef === undefined ? undefined : secretName(spec.certificateRef)
  const tlsSecret = provided ?? `${app}-tls`
  const ingress: KubeObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...meta(app), annotations: ingressAnnotations(spec, cluster) },
    spec: {
      ingressClassName: cluster.ingressClass,
      ...(tls ? { tls: [{ hosts: [...hostnames], secretName: tlsSecret }] } : {}),
      rules: hostnames.map((host) => ({
        host,
        http: {
          paths: [
            {
              path: '/',
              pathType: 'Prefix',
              backend: { service: { name: serviceNames(app).ingress, port: { number: spec.port } } },
            },
          ],
        },
      })),
    },
  }
  const certificate: KubeObject = {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: meta(tlsSecret),
    spec: {
      secretName: tlsSecret,
      dnsNames: [...hostnames],
      duration: `${certificateDuration.hours}h`,
      renewBefore: `${certificateDuration.renewBeforeHours}h`,
      issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: cluster.clusterIssuer },
    },
  }
  // The Ingress's own backend Service: a deploy that names no ports leaves the route working.
  const backend: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(serviceNames(app).ingress),
    spec: {
      type: 'ClusterIP',
      selector: labels,
      ports: [
        {
          name: 'http',
          port: spec.port,
          targetPort: spec.port,
          protocol: 'TCP',
          ...(spec.protocol === 'grpc' ? { appProtocol: 'grpc' } : {}),
        },
      ],
    },
  }
  return tls && provided === undefined ? [backend, certificate, ingress] : [backend, ingress]
}

/** The hostnames of a network spec, or one under the provider's base domain when it names none. */
export const hostnamesOf = (spec: NetworkSpec, app: string, namespace: string, cluster: ClusterSettings) =>
  spec.hostnames.length > 0 ? spec.hostnames : [`${app}-${namespace}.${cluster.baseDomain}`]
