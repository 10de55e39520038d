import { catalog, validatePayload } from '@rxt/contracts'
import { canonicalManifest, manifestDigest } from '@rxt/contracts/manifest'
import { describe, expect, it } from 'vitest'
import { deploy, rxtSpot, sddcFlex } from './fixtures/load.ts'
import { networkCommand, platformCommand } from './platform-command.ts'
import { translate } from './translate.ts'

const manifest = deploy(`image: ghcr.io/acme/shop:1.4.2
replicas: 3
resources: {cpu: 500m, memory: 1Gi}
ports: [{name: http, port: 8080, protocol: http}]
network: {visibility: public, hostnames: [shop.example.com], tls: required}`)
const work = {
  deploymentId: 'dep-1',
  tenantId: 'tnt-acme',
  projectId: 'prj-shop',
  envId: 'env-prod',
  environment: 'production',
  artifactRef: 'ghcr.io/acme/shop:1.4.2',
  manifest: canonicalManifest(manifest),
  manifestDigest: manifestDigest(manifest),
}
const target = {
  tenantId: work.tenantId,
  projectId: work.projectId,
  envId: work.envId,
  environment: 'production',
}

describe('the platform command of a routed deployment', () => {
  it('is cmd.spot.provision.request for a Kubernetes provider: its namespace, objects by reference, resources', () => {
    const translation = translate(manifest, rxtSpot(), target)
    const command = platformCommand(work, manifest, translation)
    expect(command.type).toBe('cmd.spot.provision.request')
    const namespace = translation.objects.find((o) => o.kind === 'Namespace') as {
      metadata: { name: string }
    }
    expect(command.data).toMatchObject({
      provider: 'rxt-spot',
      namespace: namespace.metadata.name,
      resources: { replicas: 3, cpuMillicores: 500, memoryMiB: 1024, storageGiB: 0 },
    })
    const refs = (command.data.k8sManifests as { objects: { kind: string }[] }).objects
    expect(refs.map((o) => o.kind)).toContain('Deployment')
    expect(refs.map((o) => o.kind)).not.toContain('Namespace')
    expect(validatePayload(catalog, command.type, 1, command.data)).toEqual([])
  })

  it('is cmd.sddc.provision.request for a VM provider: one VM per replica in the environment folder', () => {
    const translation = translate(manifest, sddcFlex(), target)
    const command = platformCommand(work, manifest, translation)
    expect(command.type).toBe('cmd.sddc.provision.request')
    expect(command.data).toMatchObject({
      provider: 'sddc-flex',
      vmSpecs: [{ name: 'shop', count: 3, cpu: 1, memoryMiB: 1024 }],
    })
    const folder = translation.objects.find((o) => o.kind === 'VmFolder') as { name: string }
    expect((command.data.resources as { folder: string }).folder).toBe(folder.name)
    expect(validatePayload(catalog, command.type, 1, command.data)).toEqual([])
  })

  it('routes traffic with a network command: the ingress rule and TLS on Kubernetes, the NSX load balancer on VMs', () => {
    const k8s = networkCommand(work, manifest, translate(manifest, rxtSpot(), target))
    expect(k8s.type).toBe('cmd.spot.network.configure')
    expect(k8s.data).toMatchObject({
      provider: 'rxt-spot',
      ingressRules: [{ host: 'shop.example.com', path: '/', servicePort: 8080 }],
      serviceLB: null,
      tls: { mode: 'acme' },
      dns: { zone: 'example.com', records: [{ name: 'shop.example.com' }] },
    })
    expect(validatePayload(catalog, k8s.type, 1, k8s.data)).toEqual([])
    const vm = networkCommand(work, manifest, translate(manifest, sddcFlex(), target))
    expect(vm.type).toBe('cmd.sddc.network.configure')
    expect(vm.data).toMatchObject({
      nsxLB: { port: 443, memberPort: 8080, algorithm: 'round-robin' },
      firewallRules: [{ sources: ['0.0.0.0/0'], ports: [8080] }],
    })
    expect(validatePayload(catalog, vm.type, 1, vm.data)).toEqual([])
  })
})
