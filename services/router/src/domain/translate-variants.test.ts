import { describe, expect, it } from 'vitest'
import { at, deploy, ofKind, rxtSpot, sddcFlex } from './fixtures/load.ts'
import { ciImagePlaceholder, type Translation, translate } from './translate.ts'

/** translate for the shapes of deploy.yaml beyond the common one: state, scaling, exposure, TLS, CI images. */

const target = { tenantId: 'tnt-acme', projectId: 'prj-db', envId: 'env-01', environment: 'production' }
const kinds = (t: Translation) => t.objects.map((o) => String(o.kind))
/** The value at a path of keys and indexes; undefined where there is none. */

/** The namespace and VM folder: `<app>-production` and the first 8 hex of sha256('tnt-acme/env-01'). */
const scope = (app: string) => `${app}-production-f44debbd`
const volumes = 'volumes: [{ name: data, mountPath: /var/lib/data, size: 10Gi }]'

describe('translate: state', () => {
  const stateful = deploy(
    `image: ghcr.io/acme/db:16\nstateful: true\nreplicas: 3\nports: [{ name: pg, port: 5432, protocol: tcp }]\n${volumes}`,
    'db',
  )

  it('a stateful workload is a StatefulSet with a claim template per volume and a headless Service', () => {
    const t = translate(stateful, rxtSpot(), target)
    expect(kinds(t)).not.toContain('Deployment')
    expect(kinds(t)).not.toContain('PersistentVolumeClaim')
    const [set] = ofKind(t, 'StatefulSet')
    expect(set).toMatchObject({
      apiVersion: 'apps/v1',
      spec: {
        replicas: 3,
        serviceName: 'db-headless',
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
          },
        ],
        template: {
          spec: { containers: [{ volumeMounts: [{ name: 'data', mountPath: '/var/lib/data' }] }] },
        },
      },
    })
    expect(ofKind(t, 'Service').map((s) => at(s, 'spec', 'clusterIP'))).toEqual([undefined, 'None'])
    // Three replicas, a 10 GiB claim each; no surge for a StatefulSet
    expect(at(ofKind(t, 'ResourceQuota')[0], 'spec', 'hard')).toMatchObject({
      pods: '3',
      persistentvolumeclaims: '3',
      'requests.storage': '30Gi',
    })
    expect(t.summary).toContain('StatefulSet db: 3 replicas of ghcr.io/acme/db:16')
  })

  it('a stateless workload with volumes gets PersistentVolumeClaims mounted by the Deployment', () => {
    const t = translate(deploy(`image: ghcr.io/acme/a:1\n${volumes}`), rxtSpot(), target)
    const [claim] = ofKind(t, 'PersistentVolumeClaim')
    expect(claim).toMatchObject({
      metadata: { name: 'shop-data' },
      spec: { resources: { requests: { storage: '10Gi' } } },
    })
    expect(at(ofKind(t, 'Deployment')[0], 'spec', 'template', 'spec', 'volumes')).toEqual([
      { name: 'data', persistentVolumeClaim: { claimName: 'shop-data' } },
    ])
  })

  it('on VMs the volumes are VMDK data disks, kept across restarts when stateful', () => {
    const t = translate(stateful, sddcFlex(), target)
    expect(ofKind(t, 'VirtualMachine')).toHaveLength(3)
    expect(ofKind(t, 'VirtualMachine')[2]).toMatchObject({
      name: `${scope('db')}-2`,
      dataDisks: [{ name: 'data', sizeGiB: 10, mountPath: '/var/lib/data', type: 'vmdk', persistent: true }],
    })
    // No readiness probe: a TCP monitor on the first port
    expect(at(ofKind(t, 'NsxLoadBalancer')[0], 'healthMonitor')).toMatchObject({ type: 'TCP', port: 5432 })
  })
})

describe('translate: scaling and exposure', () => {
  it('autoscaling becomes an autoscaling/v2 HorizontalPodAutoscaler (and a summary line on VMs)', () => {
    const m = deploy(
      'image: ghcr.io/acme/a:1\nreplicas: 1\nautoscaling: { minReplicas: 2, maxReplicas: 6, targetCpuPercent: 65 }',
    )
    const t = translate(m, rxtSpot(), target)
    expect(ofKind(t, 'HorizontalPodAutoscaler')[0]).toMatchObject({
      apiVersion: 'autoscaling/v2',
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop' },
        minReplicas: 2,
        maxReplicas: 6,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 65 } },
          },
        ],
      },
    })
    // The HPA owns the replica count: no replicas field for server-side apply to reset it with
    const [deployment] = ofKind(t, 'Deployment')
    expect(Object.keys(at(deployment, 'spec') as object)).not.toContain('replicas')
    expect(t.summary).toContain(
      'Deployment shop: 2–6 replicas, as the HorizontalPodAutoscaler sets them (no replicas field) of ghcr.io/acme/a:1',
    )
    // The quota leaves room for maxReplicas and a surge

    expect(at(ofKind(t, 'ResourceQuota')[0], 'spec', 'hard', 'pods')).toBe('7')
    expect(translate(m, sddcFlex(), target).summary).toContain(
      'Autoscaling: 2–6 VMs at 65% CPU, each like the ones above',
    )
  })

  it('an autoscaled StatefulSet has no replicas field either', () => {
    const m = deploy(
      `image: ghcr.io/acme/db:16\nstateful: true\nautoscaling: { minReplicas: 2, maxReplicas: 4 }\n${volumes}`,
      'db',
    )
    const [set] = ofKind(translate(m, rxtSpot(), target), 'StatefulSet')
    expect(Object.keys(at(set, 'spec') as object)).not.toContain('replicas')
    expect(at(set, 'spec', 'selector')).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'db' } })
  })

  it('a public workload with a tcp port gets a LoadBalancer Service and a policy that admits it', () => {
    const m = deploy(
      'image: ghcr.io/acme/a:1\nports: [{ name: mqtt, port: 1883, protocol: tcp }]\nnetwork: { visibility: public, tls: off }',
    )
    const t = translate(m, rxtSpot(), target)
    expect(ofKind(t, 'Service').map((s) => [at(s, 'metadata', 'name'), at(s, 'spec', 'type')])).toEqual([
      ['shop', 'ClusterIP'],
      ['shop-lb', 'LoadBalancer'],
    ])
    const names = ofKind(t, 'NetworkPolicy').map((p) => at(p, 'metadata', 'name'))
    expect(names).toEqual(['default-deny', 'allow-same-namespace', 'allow-dns', 'allow-load-balancer'])
    expect(kinds(t)).not.toContain('Ingress')
  })

  it('gRPC through the Ingress, TLS optional: no redirect; TLS off: no certificate on either platform', () => {
    const grpc = (tls: string) =>
      deploy(
        `image: ghcr.io/acme/a:1\nports: [{ name: api, port: 9090, protocol: grpc }]\nnetwork: { visibility: public, hostnames: [api.example.com], tls: ${tls} }`,
      )
    const optional = ofKind(translate(grpc('optional'), rxtSpot(), target), 'Ingress')[0]
    expect(at(optional, 'metadata', 'annotations')).toEqual({
      'nginx.ingress.kubernetes.io/ssl-redirect': 'false',
      'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC',
    })
    const off = translate(grpc('off'), rxtSpot(), target)
    expect(kinds(off)).not.toContain('Certificate')
    expect(at(ofKind(off, 'Ingress')[0], 'spec', 'tls')).toBeUndefined()
    const vm = translate(grpc('off'), sddcFlex(), target)
    expect(kinds(vm)).not.toContain('Certificate')
    expect(at(ofKind(vm, 'NsxLoadBalancer')[0], 'virtualServers', 0)).toEqual({
      name: `${scope('shop')}-api`,
      vip: 'public',
      protocol: 'HTTP',
      ports: [80],
      poolPort: 9090,
      hostnames: ['api.example.com'],
    })
  })

  it('a workload without ports gets no Service, Ingress or load balancer', () => {
    const m = deploy('image: ghcr.io/acme/worker:1')
    const k8s = translate(m, rxtSpot(), target)
    expect(kinds(k8s)).not.toContain('Service')
    expect(ofKind(k8s, 'NetworkPolicy').map((p) => at(p, 'metadata', 'name'))).toEqual([
      'default-deny',
      'allow-same-namespace',
      'allow-dns',
    ])
    const vm = translate(m, sddcFlex(), target)
    expect(kinds(vm)).not.toContain('NsxLoadBalancer')
    expect(ofKind(vm, 'NsxDistributedFirewallRule').map((r) => at(r, 'name'))).not.toContain(
      `${scope('shop')}-allow-load-balancer`,
    )
  })
})

describe('translate: images and names', () => {
  it('an image CI builds is a placeholder, and the summary says so', () => {
    const m = deploy('build: { fromCi: true }')
    const t = translate(m, rxtSpot(), target)
    expect(at(ofKind(t, 'Deployment')[0], 'spec', 'template', 'spec', 'containers', 0, 'image')).toBe(
      ciImagePlaceholder,
    )
    expect(t.summary).toContain(
      `Image: ${ciImagePlaceholder}, known once CI has built it (spec.build.fromCi)`,
    )
    expect(at(ofKind(translate(m, sddcFlex(), target), 'VirtualMachine')[0], 'image')).toBe(
      ciImagePlaceholder,
    )
  })

  it('rounds a fractional vCPU up to a whole one on a VM and says so', () => {
    const t = translate(deploy('image: a/b:1\nresources: { cpu: 1500m, memory: 700Mi }'), sddcFlex(), target)
    expect(ofKind(t, 'VirtualMachine')[0]).toMatchObject({ cpu: 2, memoryMiB: 700 })
    expect(t.summary).toContain(
      'Each VM: 2 vCPU, 700 MiB memory, 20 GiB boot disk (1.5 vCPU asked, rounded up to whole vCPUs)',
    )
    // An image without a registry host comes from Docker Hub
    expect(ofKind(t, 'NsxDistributedFirewallRule').map((r) => at(r, 'destinations', 0))).toContain(
      'docker.io',
    )
  })

  it('keeps the namespace a DNS label of at most 63 characters, distinct for distinct long names', () => {
    const app = 'a'.repeat(60)
    const m = deploy('image: ghcr.io/acme/a:1', app)
    const one = translate(m, rxtSpot(), { ...target, environment: 'Production_EU' })
    const two = translate(m, rxtSpot(), { ...target, environment: 'production-us' })
    const [a, b] = [one, two].map((t) => at(ofKind(t, 'Namespace')[0], 'metadata', 'name'))
    expect(a).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
    expect(b).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
    expect(a).not.toBe(b)
    expect(at(ofKind(one, 'Namespace')[0], 'metadata', 'labels', 'rxt.dev/environment-name')).toBe(
      'Production_EU',
    )
  })

  it('keeps every derived name a DNS label on both platforms, however long the app name', () => {
    const long = deploy(
      `image: ghcr.io/acme/a:1\nstateful: true\nports: [{ name: http, port: 80, protocol: http }]\nnetwork: { visibility: public, hostnames: [a.example.com], tls: required }\n${volumes}`,
      'b'.repeat(63),
    )
    const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
    const k8s = translate(long, rxtSpot(), target).objects.map((o) => at(o, 'metadata', 'name'))
    const vm = translate(long, sddcFlex(), target).objects.map((o) => at(o, 'name'))
    for (const name of [...k8s, ...vm]) expect(name).toMatch(label)
    expect(new Set(vm).size).toBe(vm.length)
  })
})
