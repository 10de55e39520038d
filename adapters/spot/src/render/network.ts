import { type NetworkSpec, secretName } from '@rxt/platform-sdk'
import type { KubeObject } from './kube-object.ts'
import { appLabels, serviceNames } from './names.ts'
import type { ClusterSettings } from './settings.ts'

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
  owner: Readonly<Record<string, string>> = {},
): KubeObject[] {
  if (spec.visibility === 'private') return []
  const selector = appLabels(app)
  const labels = { ...selector, ...owner }
  const meta = (name: string) => ({ name, namespace, labels })
  if (spec.protocol === 'tcp') {
    return [
      // Default deny covers the load balancer's traffic too: its port is let in from anywhere.
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta(serviceNames(app).public),
        spec: {
          podSelector: { matchLabels: selector },
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
          selector,
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
      selector,
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
