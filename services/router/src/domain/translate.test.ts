import { secretName } from '@rxt/platform-sdk'
import { describe, expect, it } from 'vitest'
import { deploy, rxtSpot, sddcFlex, variant } from './fixtures/load.ts'
import { applyEnvironment, type Translation, translate } from './translate.ts'

/** One manifest for both platforms: production overrides replicas, resources and env. */
const shopYaml = `
image: ghcr.io/acme/shop:2.1.0
resources: { cpu: 500m, memory: 512Mi }
replicas: 2
ports:
  - { name: http, port: 8080, protocol: http }
  - { name: metrics, port: 9100, protocol: tcp }
healthChecks:
  readiness: { path: /healthz, port: http }
  liveness: { port: 8080, periodSeconds: 20 }
env: { LOG_LEVEL: info }
secrets: { DATABASE_URL: secret://shop/database-url }
network: { visibility: public, hostnames: [shop.example.com], tls: required }
environments:
  production:
    replicas: 3
    resources: { cpu: "1", memory: 1Gi }
    env: { LOG_LEVEL: warn }
`
const shop = deploy(shopYaml)
const production = { tenantId: 'tnt-acme', projectId: 'prj-shop', envId: 'env-01', environment: 'production' }
const staging = { ...production, envId: 'env-02', environment: 'staging' }
/** The namespace (and VM folder) of production: `shop-production` and sha256('tnt-acme/env-01'), first 8 hex. */
const ns = 'shop-production-f44debbd'

type Json = Record<string, unknown>
const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
/** The value at a path of keys and indexes, failing the test when it is not there. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>((v, key) => {
    const next =
      typeof key === 'number' ? (Array.isArray(v) ? v[key] : undefined) : isJson(v) ? v[key] : undefined
    if (next === undefined) throw new Error(`nothing at ${path.join('.')} (stopped at ${String(key)})`)
    return next
  }, value)
}
const kinds = (t: Translation) => t.objects.map((o) => o.kind)
const named = (t: Translation, kind: string, name?: string): Json => {
  const found = t.objects.find(
    (o) => o.kind === kind && (name === undefined || at(o, 'metadata', 'name') === name),
  )
  if (found === undefined) throw new Error(`no ${kind} ${name ?? ''}`)
  return found
}
const vmNamed = (t: Translation, kind: string) => t.objects.filter((o) => o.kind === kind)

describe('translate to Kubernetes (RXT Spot)', () => {
  const t = translate(shop, rxtSpot(), production)

  it('creates the namespace, its guard rails, the workload and its networking, in order', () => {
    expect(t).toMatchObject({ provider: 'rxt-spot', kind: 'k8s', simulated: false })
    expect(kinds(t)).toEqual([
      'Namespace',
      'ResourceQuota',
      'LimitRange',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'NetworkPolicy',
      'NetworkPolicy',
      'NetworkPolicy',
      'NetworkPolicy',
      'Deployment',
      'Service',
      'Service',
      'NetworkPolicy',
      'Certificate',
      'Ingress',
    ])
    expect(named(t, 'Namespace').metadata).toMatchObject({
      name: ns,
      labels: {
        'rxt.dev/tenant': 'tnt-acme',
        'rxt.dev/project': 'prj-shop',
        'rxt.dev/environment': 'env-01',
      },
    })
    expect(t.objects.slice(1).every((o) => at(o, 'metadata', 'namespace') === ns)).toBe(true)
    // 3 replicas and one more during a rolling update, at 1 vCPU and 1 GiB each
    expect(at(named(t, 'ResourceQuota'), 'spec', 'hard')).toEqual({
      'requests.cpu': '4',
      'limits.cpu': '4',
      'requests.memory': '4Gi',
      'limits.memory': '4Gi',
      pods: '4',
      persistentvolumeclaims: '0',
    })
  })

  it('applies the environment overrides to the Deployment: replicas, resources, env', () => {
    const deployment = named(t, 'Deployment', 'shop')
    expect(at(deployment, 'spec', 'replicas')).toBe(3)
    const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0)
    expect(container).toMatchObject({
      name: 'shop',
      image: 'ghcr.io/acme/shop:2.1.0',
      ports: [
        { name: 'http', containerPort: 8080, protocol: 'TCP' },
        { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
      ],
      resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } },
      readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
      livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 20 },
    })
    expect(at(container, 'env')).toEqual([
      { name: 'LOG_LEVEL', value: 'warn' },
      {
        name: 'DATABASE_URL',
        valueFrom: { secretKeyRef: { name: 'rxt-secret-shop-database-url-6b5fe9d2', key: 'value' } },
      },
    ])
    expect(t.summary).toContain('Environment production overrides env, replicas, resources')
    expect(t.summary).toContain('Deployment shop: 3 replicas of ghcr.io/acme/shop:2.1.0')
  })

  it('reaches it through a ClusterIP Service and an Ingress with TLS; only tcp ports on the LoadBalancer', () => {
    expect(at(named(t, 'Service', 'shop'), 'spec')).toEqual({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'shop' },
      ports: [
        { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        { name: 'metrics', port: 9100, targetPort: 'metrics', protocol: 'TCP' },
      ],
    })
    expect(at(named(t, 'Service', 'shop-lb'), 'spec')).toEqual({
      type: 'LoadBalancer',
      selector: { 'app.kubernetes.io/name': 'shop' },
      ports: [{ name: 'metrics', port: 9100, targetPort: 'metrics', protocol: 'TCP' }],
    })
    const ingress = named(t, 'Ingress', 'shop')
    expect(at(ingress, 'spec')).toMatchObject({
      ingressClassName: 'nginx',
      tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
      rules: [
        {
          host: 'shop.example.com',
          http: { paths: [{ backend: { service: { name: 'shop', port: { name: 'http' } } } }] },
        },
      ],
    })
    expect(at(ingress, 'metadata', 'annotations', 'nginx.ingress.kubernetes.io/ssl-redirect')).toBe('true')
    expect(named(t, 'Certificate')).toMatchObject({
      apiVersion: 'cert-manager.io/v1',
      spec: { secretName: 'shop-tls', dnsNames: ['shop.example.com'], issuerRef: { kind: 'ClusterIssuer' } },
    })
  })

  it('denies all traffic, then allows the namespace, DNS and the ingress controller', () => {
    const policies = t.objects.filter((o) => o.kind === 'NetworkPolicy')
    expect(policies.map((p) => at(p, 'metadata', 'name'))).toEqual([
      'default-deny',
      'allow-same-namespace',
      'allow-dns',
      'allow-ingress-controller',
      'allow-load-balancer',
    ])
    expect(at(policies[0], 'spec')).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] })
    expect(at(policies[2], 'spec', 'egress', 0)).toEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    })
    expect(at(policies[3], 'spec', 'ingress', 0, 'ports')).toEqual([{ protocol: 'TCP', port: 8080 }])
    expect(at(policies[4], 'spec', 'ingress', 0)).toEqual({
      from: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
      ports: [{ protocol: 'TCP', port: 9100 }],
    })
  })
})

describe('translate to VMs (SDDC Flex)', () => {
  const t = translate(shop, sddcFlex(), production)

  it('creates a folder, a segment, the firewall, a VM per replica, a load balancer and a certificate', () => {
    expect(t).toMatchObject({ provider: 'sddc-flex', kind: 'vm', simulated: false })
    expect(kinds(t)).toEqual([
      'VmFolder',
      'NsxSegment',
      ...Array(5).fill('NsxDistributedFirewallRule'),
      'VirtualMachine',
      'VirtualMachine',
      'VirtualMachine',
      'NsxLoadBalancer',
      'Certificate',
    ])
    expect(vmNamed(t, 'VirtualMachine')[0]).toMatchObject({
      name: `${ns}-0`,
      folder: ns,
      cpu: 1,
      memoryMiB: 1024,
      diskGiB: 20,
      image: 'ghcr.io/acme/shop:2.1.0',
      containerRuntime: 'containerd',
      cloudInit: { env: { LOG_LEVEL: 'warn' }, secretRefs: { DATABASE_URL: 'secret://shop/database-url' } },
    })
  })

  it('balances every port over the VMs, monitored by the readiness probe', () => {
    expect(vmNamed(t, 'NsxLoadBalancer')[0]).toMatchObject({
      name: `${ns}-lb`,
      internal: false,
      pool: { members: [`${ns}-0`, `${ns}-1`, `${ns}-2`] },
      virtualServers: [
        {
          name: `${ns}-http`,
          vip: 'public',
          protocol: 'HTTP',
          ports: [443, 80],
          poolPort: 8080,
          certificate: `${ns}-tls`,
        },
        { name: `${ns}-metrics`, vip: 'public', protocol: 'TCP', ports: [9100], poolPort: 9100 },
      ],
      healthMonitor: { type: 'HTTP', port: 8080, path: '/healthz', intervalSeconds: 10 },
    })
    expect(vmNamed(t, 'Certificate')[0]).toMatchObject({
      dnsNames: ['shop.example.com'],
      usedBy: `${ns}-lb`,
    })
  })

  it('denies all traffic first, then lets the load balancer reach the pool ports', () => {
    const [deny, allowLb, ...rest] = vmNamed(t, 'NsxDistributedFirewallRule')
    expect(deny).toMatchObject({ name: `${ns}-default-deny`, action: 'DROP', sources: ['ANY'] })
    expect(allowLb).toMatchObject({
      sources: [`${ns}-lb`],
      destinations: [ns],
      services: ['TCP/8080', 'TCP/9100'],
      action: 'ALLOW',
    })
    // Lower sequence numbers are evaluated first: every allow precedes the deny.
    for (const rule of [allowLb, ...rest])
      expect(Number(at(rule, 'sequenceNumber'))).toBeLessThan(Number(at(deny, 'sequenceNumber')))
    expect(rest.map((r) => at(r, 'destinations'))).toEqual([[ns], ['ANY'], ['ghcr.io']])
  })
})

describe('translate: both platforms', () => {
  it('uses the top-level values for an environment without overrides', () => {
    const t = translate(shop, rxtSpot(), staging)
    expect(at(named(t, 'Namespace'), 'metadata', 'name')).toBe('shop-staging-1dcaad46')
    expect(at(named(t, 'Deployment'), 'spec', 'replicas')).toBe(2)
    expect(
      at(named(t, 'Deployment'), 'spec', 'template', 'spec', 'containers', 0, 'resources', 'requests'),
    ).toEqual({
      cpu: '500m',
      memory: '512Mi',
    })
    expect(t.summary.some((line) => line.includes('overrides'))).toBe(false)
    expect(applyEnvironment(shop, 'staging')).toBe(shop)
    expect(applyEnvironment(shop, 'production').spec).toMatchObject({
      replicas: 3,
      image: 'ghcr.io/acme/shop:2.1.0',
    })
  })

  it('is deterministic: the same input gives the same output', () => {
    for (const provider of [rxtSpot(), sddcFlex()]) {
      expect(JSON.stringify(translate(shop, provider, production))).toBe(
        JSON.stringify(translate(deploy(shopYaml), provider, production)),
      )
    }
  })

  it('says when the provider is a simulation', () => {
    const t = translate(shop, variant(rxtSpot(), { name: 'sim-container', simulated: true }), production)
    expect(t.simulated).toBe(true)
    expect(t.summary[0]).toBe('Provider sim-container (k8s): a simulation, nothing real is created')
  })
})

describe('translate: secrets are references, never values', () => {
  // Two references, and production replaces one of them: the override's references are the ones that apply.
  const withSecrets = deploy(`
image: ghcr.io/acme/shop:2.1.0
ports: [{ name: http, port: 8080, protocol: http }]
env: { LOG_LEVEL: info }
secrets: { DATABASE_URL: secret://shop/database-url, API_TOKEN: secret://shop/api.token }
environments:
  production:
    secrets: { DATABASE_URL: secret://shop/prod/database-url, API_TOKEN: secret://shop/api.token }
`)
  const refs: Record<string, string> = applyEnvironment(withSecrets, 'production').spec.secrets ?? {}
  /** Every object inside a value (nested in objects and arrays), the value included. */
  const objectsIn = (value: unknown): Json[] =>
    Array.isArray(value)
      ? value.flatMap(objectsIn)
      : isJson(value)
        ? [value, ...Object.values(value).flatMap(objectsIn)]
        : []
  const noSecretObjects = (t: Translation) => {
    for (const o of objectsIn(t.objects)) {
      expect(o.kind).not.toBe('Secret')
      expect(Object.keys(o)).not.toContain('data')
      expect(Object.keys(o)).not.toContain('stringData')
    }
  }

  it('Kubernetes: each secret is exactly { name, valueFrom: { secretKeyRef: { name, key } } }', () => {
    expect(Object.keys(refs).sort()).toEqual(['API_TOKEN', 'DATABASE_URL'])
    const t = translate(withSecrets, rxtSpot(), production)
    const env = at(named(t, 'Deployment'), 'spec', 'template', 'spec', 'containers', 0, 'env')
    if (!Array.isArray(env)) throw new Error('env is not a list')
    const fromSecrets = env.filter((e: Json) => Object.hasOwn(refs, String(e.name)))
    expect(fromSecrets).toHaveLength(2)
    for (const entry of fromSecrets) {
      expect(Object.keys(entry).sort()).toEqual(['name', 'valueFrom'])
      expect(Object.keys(at(entry, 'valueFrom') as Json)).toEqual(['secretKeyRef'])
      const ref = at(entry, 'valueFrom', 'secretKeyRef') as Json
      expect(Object.keys(ref).sort()).toEqual(['key', 'name'])
      expect(ref).toEqual({ name: secretName(refs[entry.name] ?? ''), key: 'value' })
      expect(String(ref.name)).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/)
    }
    expect(env.filter((e: Json) => !Object.hasOwn(refs, String(e.name)))).toEqual([
      { name: 'LOG_LEVEL', value: 'info' },
    ])
    noSecretObjects(t)
    expect(t.summary).toContain(
      'Secret DATABASE_URL from secret://shop/prod/database-url (a reference; the value is filled in at deploy time)',
    )
  })

  it('VMs: secret env entries carry only their reference, apart from the plain env', () => {
    const t = translate(withSecrets, sddcFlex(), production)
    const vms = vmNamed(t, 'VirtualMachine')
    expect(vms.length).toBeGreaterThan(0)
    for (const vm of vms) {
      expect(Object.keys(at(vm, 'cloudInit') as Json).sort()).toEqual(['env', 'secretRefs'])
      expect(at(vm, 'cloudInit', 'secretRefs')).toEqual(refs)
      for (const value of Object.values(at(vm, 'cloudInit', 'secretRefs') as Json))
        expect(value).toMatch(/^secret:\/\/[a-z0-9][a-z0-9._/-]*$/)
      expect(at(vm, 'cloudInit', 'env')).toEqual({ LOG_LEVEL: 'info' })
    }
    noSecretObjects(t)
  })
})
