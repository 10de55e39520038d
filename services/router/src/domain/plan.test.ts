import { applyEnvironment } from '@rxt/platform-sdk'
import { describe, expect, it } from 'vitest'
import { deploy, rxtSpot, sddcFlex } from './fixtures/load.ts'
import { buildPlan, ciImagePlaceholder } from './plan.ts'

const target = {
  tenantId: 'tnt-acme',
  projectId: 'prj-shop',
  envId: 'env-01',
  environment: 'production',
  deploymentId: 'dep-1',
}
const digest = `sha256:${'a'.repeat(64)}`
const web = `image: ghcr.io/acme/shop:1.4.2
replicas: 2
resources: { cpu: 500m, memory: 512Mi }
ports: [{ name: http, port: 8080, protocol: http }]
healthChecks: { readiness: { path: /healthz, port: http } }
env: { LOG_LEVEL: info }
secrets: { DATABASE_URL: secret://shop/database-url }
network: { visibility: public, hostnames: [shop.acme.example], tls: required }
environments:
  production: { replicas: 3, env: { LOG_LEVEL: warn } }`

describe('the environment a plan is made for', () => {
  it('applies the manifest overrides, then the stored ones, each replacing whole fields', () => {
    const manifest = deploy(web)
    const plain = applyEnvironment(manifest, 'staging')
    expect(plain.spec.replicas).toBe(2)
    const production = applyEnvironment(manifest, 'production')
    expect(production.spec.replicas).toBe(3)
    expect(production.spec.env).toEqual({ LOG_LEVEL: 'warn' })
    const stored = applyEnvironment(manifest, 'production', { replicas: 5, env: { TRACE: '1' } })
    expect(stored.spec.replicas).toBe(5)
    // Whole fields: the stored env replaces the manifest's, it is not merged with it.
    expect(stored.spec.env).toEqual({ TRACE: '1' })
    // What neither layer names stays as the manifest says.
    expect(stored.spec.ports).toEqual([{ name: 'http', port: 8080, protocol: 'http' }])
  })

  it('finds no overrides under a prototype name', () => {
    expect(applyEnvironment(deploy(web), 'constructor').spec.replicas).toBe(2)
  })
})

describe('buildPlan', () => {
  it('makes the three SDK calls of a deployment on a Kubernetes provider', () => {
    const plan = buildPlan({ manifest: deploy(web), manifestDigest: digest, target, provider: rxtSpot() })
    expect(plan).toMatchObject({
      deploymentId: 'dep-1',
      platform: 'rxt-spot',
      provider: rxtSpot().metadata.name,
      manifestDigest: digest,
      provision: { key: 'dep-1:provision', name: 'shop-production', envId: 'env-01' },
      deploy: {
        key: 'dep-1:deploy',
        app: 'shop',
        image: 'ghcr.io/acme/shop:1.4.2',
        replicas: 3,
        resources: { cpu: 0.5, memoryMiB: 512 },
        env: { LOG_LEVEL: 'warn' },
        secrets: [{ env: 'DATABASE_URL', ref: 'secret://shop/database-url' }],
        healthCheck: { path: '/healthz', port: 8080, periodSeconds: 10, failureThreshold: 3 },
        autoscaling: null,
      },
      network: {
        key: 'dep-1:network',
        visibility: 'public',
        hostnames: ['shop.acme.example'],
        tls: 'required',
        port: 8080,
        protocol: 'http',
      },
    })
    // Three replicas and one more for a rolling update: 4 × 0.5 CPU, 4 × 512 MiB.
    expect(plan.provision.quota).toEqual({ cpu: 2, memoryMiB: 2048, storageGiB: 0 })
  })

  it('sends VM providers the sddc-flex family', () => {
    const plan = buildPlan({ manifest: deploy(web), manifestDigest: digest, target, provider: sddcFlex() })
    expect(plan.platform).toBe('sddc-flex')
  })

  it('prices the stored replica count: a stored override reaches the plan', () => {
    const plan = buildPlan({
      manifest: deploy(web),
      manifestDigest: digest,
      overrides: { replicas: 4 },
      target,
      provider: rxtSpot(),
    })
    expect(plan.deploy.replicas).toBe(4)
    expect(plan.provision.quota.cpu).toBe(2.5)
  })

  it('keeps grpc a grpc port, and has no network for a workload without ports', () => {
    const grpc = buildPlan({
      manifest: deploy('image: ghcr.io/acme/a:1\nports: [{ name: api, port: 9090, protocol: grpc }]'),
      manifestDigest: digest,
      target,
      provider: rxtSpot(),
    })
    expect(grpc.network).toMatchObject({ protocol: 'grpc', port: 9090, visibility: 'private' })
    const worker = buildPlan({
      manifest: deploy('image: ghcr.io/acme/worker:1'),
      manifestDigest: digest,
      target,
      provider: rxtSpot(),
    })
    expect(worker.network).toBeNull()
  })

  it("runs the image the deploy names (pinned by digest) over the manifest's tag", () => {
    const pinned = `ghcr.io/acme/shop@sha256:${'c'.repeat(64)}`
    const plan = buildPlan({
      manifest: deploy(web),
      manifestDigest: digest,
      target,
      provider: rxtSpot(),
      artifactRef: pinned,
    })
    expect(plan.deploy.image).toBe(pinned)
    // A preview with no artifact shows the manifest's own image.
    expect(
      buildPlan({ manifest: deploy(web), manifestDigest: digest, target, provider: rxtSpot() }).deploy.image,
    ).toBe('ghcr.io/acme/shop:1.4.2')
  })

  it('runs the image CI built, or a placeholder that says so in a preview', () => {
    const manifest = deploy('build: { fromCi: true }')
    const built = `ghcr.io/acme/shop@sha256:${'b'.repeat(64)}`
    expect(
      buildPlan({ manifest, manifestDigest: digest, target, provider: rxtSpot(), artifactRef: built }).deploy
        .image,
    ).toBe(built)
    expect(buildPlan({ manifest, manifestDigest: digest, target, provider: rxtSpot() }).deploy.image).toBe(
      ciImagePlaceholder('prj-shop', 'shop'),
    )
  })

  it('sizes claims per replica for a stateful workload, with no surge', () => {
    const plan = buildPlan({
      manifest: deploy(
        'image: ghcr.io/acme/db:16\nstateful: true\nreplicas: 3\nvolumes: [{ name: data, mountPath: /data, size: 10Gi }]',
        'db',
      ),
      manifestDigest: digest,
      target,
      provider: rxtSpot(),
    })
    expect(plan.deploy.volumes).toEqual([{ name: 'data', mountPath: '/data', sizeGiB: 10 }])
    expect(plan.provision.quota.storageGiB).toBe(30)
    expect(plan.provision.quota.memoryMiB).toBe(3 * 512)
  })
})
