import { named, type PlatformObject, type Translated, type TranslationContext } from './context.ts'

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

/** Deny everything, then allow the namespace, DNS, and the ingress controller to the HTTP-like ports. */
export function networkPolicies(ctx: TranslationContext, meta: Meta): PlatformObject[] {
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
  const httpPorts = ctx.ports.filter((p) => p.protocol !== 'tcp')
  // Only with ports to name: a rule without ports would admit every port.
  if (httpPorts.length > 0) {
    list.push(
      policy('allow-ingress-controller', {
        podSelector: { matchLabels: { ...ctx.selector } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ namespaceSelector: namespaceSelector(ingressControllerNamespace) }],
            ports: httpPorts.map((p) => ({ protocol: 'TCP', port: p.port })),
          },
        ],
      }),
    )
  }
  return list
}

/** Service, headless Service of a StatefulSet, and the summary line for each. */
export function services(ctx: TranslationContext, meta: Meta): Translated {
  const ports = ctx.ports.map((p) => ({
    name: p.name,
    port: p.port,
    targetPort: p.name,
    protocol: 'TCP',
    ...(appProtocol[p.protocol] === undefined ? {} : { appProtocol: appProtocol[p.protocol] }),
  }))
  const loadBalanced = ctx.visibility === 'public' && ctx.ports.some((p) => p.protocol === 'tcp')
  const type = loadBalanced ? 'LoadBalancer' : 'ClusterIP'
  const spec = { type, selector: { ...ctx.selector }, ports }
  const objects: PlatformObject[] = []
  const summary: string[] = []
  if (ports.length > 0) {
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: meta(ctx.app), spec })
    const listed = ctx.ports.map((p) => `${p.name} ${p.port}/${p.protocol}`).join(', ')
    const open = loadBalanced ? '; public: a NetworkPolicy admits any address to its ports' : ''
    summary.push(`Service ${ctx.app} (${type}): ${listed}${open}`)
  }
  if (ctx.manifest.spec.stateful) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(named(ctx.app, 'headless')),
      spec: { clusterIP: 'None', selector: { ...ctx.selector }, ports },
    })
    summary.push(
      `Service ${named(ctx.app, 'headless')} (headless): a stable name for each StatefulSet replica`,
    )
  }
  if (loadBalanced) {
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('allow-load-balancer'),
      spec: {
        podSelector: { matchLabels: { ...ctx.selector } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
            ports: ctx.ports.map((p) => ({ protocol: 'TCP', port: p.port })),
          },
        ],
      },
    })
  }
  return { objects, summary }
}

/** Ingress and its cert-manager Certificate, for the first HTTP-like port, when hostnames are given. */
export function ingress(ctx: TranslationContext, meta: Meta, web: Port): Translated {
  const secretName = named(ctx.app, 'tls')
  const tls = ctx.tls !== 'off'
  const annotations = {
    'nginx.ingress.kubernetes.io/ssl-redirect': String(ctx.tls === 'required'),
    ...(web.protocol === 'grpc' ? { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' } : {}),
  }
  const rules = ctx.hostnames.map((host) => ({
    host,
    http: {
      paths: [
        { path: '/', pathType: 'Prefix', backend: { service: { name: ctx.app, port: { name: web.name } } } },
      ],
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
