import { readFileSync } from 'node:fs'
import { conformanceRequests, loadProviderManifest, secretKeyRef, secretName } from '@rxt/platform-sdk'
import yaml from 'js-yaml'
import { describe, expect, it } from 'vitest'
import { testSettings } from '../test-cluster.ts'
import {
  environmentObjects,
  environmentReader,
  hostnamesOf,
  namespaceOf,
  networkObjects,
  workloadObjects,
} from './index.ts'

const r = conformanceRequests('render')

describe('rendering environments as Kubernetes objects', () => {
  it('keeps two tenants apart in a cluster: the same environment name, two namespaces', () => {
    const env = { name: 'shop-prod', envId: 'env-1' }
    const a = namespaceOf({ ...env, tenantId: 'tnt-a' })
    const b = namespaceOf({ ...env, tenantId: 'tnt-b' })
    expect(a).not.toBe(b)
    expect(a).toMatch(/^shop-prod-[0-9a-f]{8}$/)
    expect(namespaceOf({ ...env, name: 'x'.repeat(63), tenantId: 'tnt-a' }).length).toBeLessThanOrEqual(63)
  })

  it('names secrets by reference, as the router does, never by value', () => {
    const [workload] = workloadObjects('ns', r.deploy, 1, 'd', { autoscaled: false, owner: {} }).filter(
      (o) => o.kind === 'Deployment',
    )
    expect(JSON.stringify(workload)).toContain(
      `"secretKeyRef":${JSON.stringify(secretKeyRef('secret://shop/database-url'))}`,
    )
  })

  it('fits port and Service names to what the API server accepts', () => {
    const objects = workloadObjects(
      'ns',
      {
        ...r.deploy,
        app: '2048-game',
        ports: [{ name: 'administration-port', port: 9000, protocol: 'http' }],
      },
      1,
      'd',
      { autoscaled: false, owner: {} },
    )
    const service = objects.find((o) => o.kind === 'Service') as unknown as {
      metadata: { name: string }
      spec: { ports: { name: string }[] }
    }
    expect(service.metadata.name).toMatch(/^[a-z]/)
    expect(service.spec.ports[0]?.name.length).toBeLessThanOrEqual(15)
  })

  it('puts the namespace first, and binds the environment to a reader of its workloads that reads no Secrets', () => {
    const objects = environmentObjects(r.provision, testSettings)
    expect(objects[0]?.kind).toBe('Namespace')
    expect(objects.find((o) => o.kind === 'ServiceAccount')).toMatchObject({
      automountServiceAccountToken: false,
    })
    expect(objects.find((o) => o.kind === 'RoleBinding')).toMatchObject({
      roleRef: { kind: 'ClusterRole', name: environmentReader },
    })
    const rbac = yaml.loadAll(readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8')) as {
      kind: string
      metadata: { name: string }
      rules?: { resources: string[]; verbs: string[] }[]
    }[]
    const reader = rbac.find((o) => o.kind === 'ClusterRole' && o.metadata.name === environmentReader)
    expect(reader?.rules?.flatMap((rule) => rule.resources)).not.toContain('secrets')
    expect(new Set(reader?.rules?.flatMap((rule) => rule.verbs))).toEqual(new Set(['get', 'list', 'watch']))
  })

  it('leaves the replica count to an autoscaler when there is one', () => {
    const spec = (autoscaled: boolean) =>
      (
        workloadObjects('ns', r.deploy, 1, 'd', { autoscaled, owner: {} }).find(
          (o) => o.kind === 'Deployment',
        ) as unknown as {
          spec: object
        }
      ).spec
    expect(spec(false)).toHaveProperty('replicas', 2)
    expect(spec(true)).not.toHaveProperty('replicas')
  })

  it('routes public HTTP through an Ingress with a certificate, TCP through a load balancer, private not at all', () => {
    const kinds = (spec: typeof r.network) =>
      networkObjects('ns', 'shop', spec, hostnamesOf(spec, 'shop', 'ns', testSettings), testSettings).map(
        (o) => o.kind,
      )
    expect(kinds(r.network)).toEqual(['Service', 'Certificate', 'Ingress'])
    expect(kinds({ ...r.network, tls: 'off' })).toEqual(['Service', 'Ingress'])
    expect(kinds({ ...r.network, protocol: 'tcp' })).toEqual(['NetworkPolicy', 'Service'])
    expect(kinds({ ...r.network, visibility: 'private' })).toEqual([])
    // A certificate the tenant provides: its Secret, and no Certificate asked of cert-manager.
    const provided = { ...r.network, certificateRef: 'secret://shop-certs/tls' }
    expect(kinds(provided)).toEqual(['Service', 'Ingress'])
    const ingress = networkObjects('ns', 'shop', provided, ['a.example'], testSettings)[1] as unknown as {
      spec: { tls: { secretName: string }[] }
    }
    expect(ingress.spec.tls[0]?.secretName).toBe(secretName('secret://shop-certs/tls'))
    const [, grpc] = networkObjects(
      'ns',
      'shop',
      { ...r.network, protocol: 'grpc', tls: 'off' },
      ['g.example'],
      testSettings,
    )
    expect(grpc?.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC',
      'nginx.ingress.kubernetes.io/limit-rps': '50',
    })
    expect(hostnamesOf({ ...r.network, hostnames: [] }, 'shop', 'ns-1', testSettings)).toEqual([
      'shop-ns-1.rxt-spot.internal',
    ])
  })

  it('is offered to the router by a provider.yaml the SDK reads: Kubernetes, ingress, volumes, TLS, autoscaling', () => {
    const loaded = loadProviderManifest(
      readFileSync(new URL('../../providers/rxt-spot.yaml', import.meta.url), 'utf8'),
    )
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.violations))
    expect(loaded.value.metadata).toMatchObject({ name: 'rxt-spot', simulated: false })
    expect(loaded.value.spec.capabilities).toMatchObject({
      compute: 'k8s',
      networking: expect.arrayContaining(['ingress']),
      storage: ['pvc'],
      tls: true,
      autoscaling: true,
    })
  })
})
