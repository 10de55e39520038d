import { named, portName, serviceName } from '@rxt/platform-sdk'
import type { PlatformObject, Translated, TranslationContext } from './context.ts'

/** Kubernetes networking for one namespace: Services, NetworkPolicies, the Ingress and its Certificate. */

type Port = TranslationContext['ports'][number]

/** Builds an object's metadata in the namespace: its name, namespace and labels. */
export type Meta = (name: string) => PlatformObject

/** The namespace the ingress controller runs in: NetworkPolicies admit traffic from it. */
export const ingressControllerNamespace = 'ingress-nginx'
/** The IngressClass the Ingress names. */
export const ingressClassName = 'nginx'
/** The cert-manager ClusterIssuer that signs certificates for the hostnames. */
export const clusterIssuer = 'letsencrypt'

const appProtocol: Readonly<Record<Port['protocol'], string | undefined>> = {
  http: 'http',
  grpc: 'kubernetes.io/h2c',
  websocket: 'kubernetes.io/ws',
  tcp: undefined,
}

const namespaceSelector = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } })

/** The Services of a workload, each a DNS-1035 label (it starts with a letter, as the API server demands). */
export interface ServiceNames {
  /** The ClusterIP Service with every port: in-cluster traffic and the Ingress backend. */
  readonly service: string
  /** The LoadBalancer Service of a public workload: its tcp ports only. */
  readonly loadBalancer: string
  /** The headless Service of a StatefulSet. */
  readonly headless: string
}

export function serviceNames(app: string): ServiceNames {
  return {
    service: serviceName(app),
    loadBalancer: serviceName(named(app, 'lb')),
    headless: serviceName(named(app, 'headless')),
  }
}

/** The ports a public workload exposes through its LoadBalancer Service: the tcp ones; none when private. */
export const loadBalancedPorts = (ctx: TranslationContext): Port[] =>
  ctx.visibility === 'public' ? ctx.ports.filter((p) => p.protocol === 'tcp') : []

/** Deny everything, then allow the namespace, DNS, and the ingress controller to the port the Ingress routes. */
export function networkPolicies(ctx: TranslationContext, meta: Meta, routed?: Port): PlatformObject[] {
  const policy = (name: string, spec: PlatformObject): PlatformObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(name),
    spec,
  })
  const both = ['Ingress', 'Egress']
  const list = [
    policy('default-deny', { podSelector: {}, policyTypes: both }),
    policy('allow-same-namespace', {
      podSelector: {},
      policyTypes: both,
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [{ to: [{ podSelector: {} }] }],
    }),
    policy('allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: namespaceSelector('kube-system') }],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
  ]
  // Only with an Ingress, and only its port: a rule without ports would admit every port.
  if (routed !== undefined) {
    list.push(
      policy('allow-ingress-controller', {
        podSelector: { matchLabels: { ...ctx.selector } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ namespaceSelector: namespaceSelector(ingressControllerNamespace) }],
            ports: [{ protocol: 'TCP', port: routed.port }],
          },
        ],
      }),
    )
  }
  return list
}

const servicePort = (p: Port): PlatformObject => ({
  name: portName(p.name),
  port: p.port,
  targetPort: portName(p.name),
  protocol: 'TCP',
  ...(appProtocol[p.protocol] === undefined ? {} : { appProtocol: appProtocol[p.protocol] }),
})

const listed = (ports: readonly Port[]) => ports.map((p) => `${p.name} ${p.port}/${p.protocol}`).join(', ')

/**
 * The ClusterIP Service, the headless Service of a StatefulSet, and for a public workload with tcp
 * ports a LoadBalancer Service carrying only those (HTTP-like ports go through the Ingress, with
 * TLS) with a NetworkPolicy that admits any address to exactly them.
 */
export function services(ctx: TranslationContext, meta: Meta): Translated {
  const names = serviceNames(ctx.app)
  const ports = ctx.ports.map(servicePort)
  const tcp = loadBalancedPorts(ctx)
  const selector = { ...ctx.selector }
  const objects: PlatformObject[] = []
  const summary: string[] = []
  if (ports.length > 0) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(names.service),
      spec: { type: 'ClusterIP', selector, ports },
    })
    summary.push(`Service ${names.service} (ClusterIP): ${listed(ctx.ports)}`)
  }
  if (ctx.manifest.spec.stateful) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(names.headless),
      spec: { clusterIP: 'None', selector: { ...ctx.selector }, ports },
    })
    summary.push(`Service ${names.headless} (headless): a stable name for each StatefulSet replica`)
  }
  if (tcp.length > 0) {
    objects.push(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(names.loadBalancer),
        spec: { type: 'LoadBalancer', selector: { ...ctx.selector }, ports: tcp.map(servicePort) },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta('allow-load-balancer'),
        spec: {
          podSelector: { matchLabels: { ...ctx.selector } },
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
              ports: tcp.map((p) => ({ protocol: 'TCP', port: p.port })),
            },
          ],
        },
      },
    )
    summary.push(
      `Service ${names.loadBalancer} (LoadBalancer): ${listed(tcp)}; public: a NetworkPolicy admits any address to these ports only`,
    )
  }
  return { objects, summary }
}

/** Ingress and its cert-manager Certificate, for the first HTTP-like port of a public workload with hostnames. */
export function ingress(ctx: TranslationContext, meta: Meta, web: Port): Translated {
  const secretName = named(ctx.app, 'tls')
  const backend = { name: serviceNames(ctx.app).service, port: { name: portName(web.name) } }
  const tls = ctx.tls !== 'off'
  const annotations = {
    'nginx.ingress.kubernetes.io/ssl-redirect': String(ctx.tls === 'required'),
    ...(web.protocol === 'grpc' ? { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' } : {}),
  }
  const rules = ctx.hostnames.map((host) => ({
    host,
    http: {
      paths: [{ path: '/', pathType: 'Prefix', backend: { service: backend } }],
    },
  }))
  const objects: PlatformObject[] = []
  if (tls) {
    objects.push({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: meta(secretName),
      spec: {
        secretName,
        dnsNames: [...ctx.hostnames],
        issuerRef: { name: clusterIssuer, kind: 'ClusterIssuer', group: 'cert-manager.io' },
      },
    })
  }
  objects.push({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...meta(ctx.app), annotations },
    spec: {
      ingressClassName,
      ...(tls ? { tls: [{ hosts: [...ctx.hostnames], secretName }] } : {}),
      rules,
    },
  })
  const summary = [
    `Ingress ${ctx.app}: ${ctx.hostnames.join(', ')} → port ${web.name} (${web.protocol}), TLS ${ctx.tls}` +
      (tls ? `, certificate ${secretName} from cert-manager (${clusterIssuer})` : ''),
  ]
  const others = ctx.ports.filter((p) => p !== web && p.protocol !== 'tcp')
  if (others.length > 0) {
    summary.push(
      `Ports ${others.map((p) => p.name).join(', ')} are reachable inside the cluster only: the Ingress routes ${web.name}`,
    )
  }
  return { objects, summary }
}
