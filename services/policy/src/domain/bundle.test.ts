import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { PolicyAdmit } from '@rxt/contracts'
import { canonicalManifest, loadManifest } from '@rxt/contracts/manifest'
import { beforeAll, describe, expect, it } from 'vitest'
import { shippedBundleFile } from '../shipped.ts'
import { admissionInput, withWorkload } from './admission-input.ts'
import { BundleProblem, type Evaluator, loadBundle, readBundle } from './bundle.ts'
import { readTarGz, writeTarGz } from './tar.ts'

const shipped = new Uint8Array(readFileSync(shippedBundleFile))

/** cmd.policy.admit for a deploy.yaml placed on a provider. */
const admit = (
  yaml: string,
  placement: { provider: string; kind: 'k8s' | 'vm'; encryptionAtRest?: boolean },
  overrides = '{}',
): PolicyAdmit => {
  const loaded = loadManifest(yaml)
  if (!loaded.ok) throw new Error(`the test manifest is valid: ${JSON.stringify(loaded.violations)}`)
  const manifest = canonicalManifest(loaded.manifest)
  return {
    deploymentId: 'dep-1',
    sourceDeploymentId: null,
    tenantId: 'tnt-a',
    projectId: 'prj-shop',
    envId: 'env-prod',
    environment: 'production',
    manifest,
    manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    overrides,
    placement: {
      decisionId: 'pld-1',
      provider: placement.provider,
      platform: placement.kind === 'vm' ? 'sddc-flex' : 'rxt-spot',
      kind: placement.kind,
      target: { compliance: [], regions: ['us-east'], encryptionAtRest: placement.encryptionAtRest ?? true },
    },
  }
}

const manifest = (spec: string) => `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 2
  resources: {cpu: 500m, memory: 512Mi}
  ports: [{name: http, port: 8080, protocol: http}]
${spec}`

const pci = (visibility: string) =>
  manifest(`  platform: {preference: auto, constraints: {compliance: [pci-dss]}}
  network: {visibility: ${visibility}, hostnames: [pay.example.com]}
`)
const hipaa = manifest(`  platform: {preference: auto, constraints: {compliance: [hipaa]}}
`)

describe('the shipped bundle, evaluated in WebAssembly', () => {
  let bundle: Evaluator
  const decide = (command: PolicyAdmit, plan = 'standard') => {
    const made = admissionInput(command, plan)
    if (!made.ok) throw new Error(made.problem)
    return bundle.evaluate(made.input)
  }
  const policiesOf = (command: PolicyAdmit, plan?: string) =>
    decide(command, plan).violations.map((v) => v.policy)

  beforeAll(async () => {
    bundle = await loadBundle(shipped)
  })

  it('is versioned by the sha256 of its archive', () => {
    expect(bundle.revision).toBe(`sha256:${createHash('sha256').update(shipped).digest('hex')}`)
  })

  it('allows a private, limited workload on Kubernetes', () => {
    expect(decide(admit(manifest(''), { provider: 'rxt-spot', kind: 'k8s' }))).toEqual({
      allow: true,
      violations: [],
      warnings: [],
    })
  })

  it('denies PCI-DSS on Kubernetes with the policy that says so, and allows it on a VM', () => {
    const denied = decide(admit(pci('private'), { provider: 'rxt-spot', kind: 'k8s' }))
    expect(denied).toEqual({
      allow: false,
      violations: [
        {
          policy: 'rxt.compliance.pci',
          rule: 'vm_only',
          severity: 'critical',
          message:
            'PCI-DSS workloads run on VMs only: rxt-spot is Kubernetes; set platform.preference: vm in deploy.yaml',
        },
      ],
      warnings: [],
    })
    expect(decide(admit(pci('private'), { provider: 'sim-vm', kind: 'vm' })).allow).toBe(true)
  })

  it('denies a public PCI-DSS workload even on a VM', () => {
    expect(policiesOf(admit(pci('public'), { provider: 'sim-vm', kind: 'vm' }))).toEqual([
      'rxt.compliance.pci_exposure',
    ])
  })

  it('denies HIPAA where the target does not encrypt at rest', () => {
    const denied = decide(admit(hipaa, { provider: 'sim-vm', kind: 'vm', encryptionAtRest: false }))
    expect(denied.violations).toEqual([
      expect.objectContaining({
        policy: 'rxt.compliance.hipaa',
        message: expect.stringContaining('HIPAA workloads need encryption at rest: sim-vm'),
      }),
    ])
    expect(decide(admit(hipaa, { provider: 'sim-vm', kind: 'vm', encryptionAtRest: true })).allow).toBe(true)
  })

  it('denies a public endpoint without TLS', () => {
    const command = admit(
      manifest('  network: {visibility: public, hostnames: [shop.example.com], tls: optional}\n'),
      { provider: 'rxt-spot', kind: 'k8s' },
    )
    expect(decide(command).violations).toEqual([
      expect.objectContaining({
        policy: 'rxt.admission.tls',
        message: expect.stringContaining('network.tls is optional'),
      }),
    ])
  })

  it('admits a workload without resource limits with a warning per missing limit (the defaults apply)', () => {
    const command = admit(
      `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec: {image: ghcr.io/acme/shop:1, resources: {cpu: "1"}}
`,
      { provider: 'rxt-spot', kind: 'k8s' },
    )
    const decided = decide(command)
    expect(decided.allow).toBe(true)
    expect(decided.violations).toEqual([])
    expect(decided.warnings).toEqual([
      {
        policy: 'rxt.admission.resources',
        rule: 'limits_set',
        severity: 'medium',
        message:
          "Resource limits are not set: spec.resources.memory is missing, so the platform's default applies (512Mi a replica); set it in deploy.yaml (e.g. cpu: 500m, memory: 512Mi)",
      },
    ])
  })

  it("applies the plan's quotas to the manifest with the environment's overrides applied", () => {
    const base = admit(manifest(''), { provider: 'rxt-spot', kind: 'k8s' })
    // 2 replicas pass the standard plan (10) and the starter plan (3); the stored override of 4 does not pass starter.
    expect(decide(base, 'starter').allow).toBe(true)
    const scaled = admit(manifest(''), { provider: 'rxt-spot', kind: 'k8s' }, '{"replicas":4}')
    expect(decide(scaled, 'standard').allow).toBe(true)
    expect(decide(scaled, 'starter').violations.map((v) => v.message)).toEqual([
      'The starter plan allows at most 3 replicas a deployment; this one asks for 4: lower spec.replicas (or autoscaling.maxReplicas), or upgrade the plan',
    ])
    const cpu = admit(manifest('  environments: {production: {resources: {cpu: "2", memory: 512Mi}}}\n'), {
      provider: 'rxt-spot',
      kind: 'k8s',
    })
    expect(decide(cpu, 'starter').violations.map((v) => v.message)).toEqual([
      'The starter plan allows at most 2000m of CPU a deployment; this one asks for 4000m (2000m x 2 replicas): lower spec.resources.cpu or the replicas, or upgrade the plan',
    ])
    expect(policiesOf(base, 'gold')).toEqual(['rxt.quota.plan'])
  })

  it('refuses an admission whose manifest does not match its digest', () => {
    const command = {
      ...admit(manifest(''), { provider: 'rxt-spot', kind: 'k8s' }),
      manifestDigest: `sha256:${'0'.repeat(64)}`,
    }
    expect(admissionInput(command, 'standard')).toEqual({
      ok: false,
      problem: expect.stringContaining('digest'),
    })
  })

  it("refuses an admission without the environment's stored overrides (what would be planned is unknown)", () => {
    const { overrides: _none, ...command } = admit(manifest(''), { provider: 'rxt-spot', kind: 'k8s' })
    expect(admissionInput(command, 'standard')).toEqual({
      ok: false,
      problem: expect.stringContaining("the environment's stored overrides did not come with the deployment"),
    })
  })
})

describe('an input given to POST /v1/evaluate', () => {
  it("has its workload read from a deploy.yaml manifest, so the plan's quotas apply", () => {
    const loaded = loadManifest(
      manifest('  autoscaling: {minReplicas: 2, maxReplicas: 12, targetCpuPercent: 70}\n'),
    )
    if (!loaded.ok) throw new Error('valid')
    expect(withWorkload({ manifest: loaded.manifest })).toMatchObject({
      workload: { cpu: 0.5, memoryMiB: 512, replicas: 2, maxReplicas: 12 },
    })
    expect(withWorkload({ manifest: { spec: {} } })).toEqual({ manifest: { spec: {} } })
    expect(withWorkload({ manifest: loaded.manifest, workload: { cpu: 1 } })).toMatchObject({
      workload: { cpu: 1 },
    })
  })
})

describe('bundles that are not ones', () => {
  it('refuses garbage, a tar without a module, and a module without the decision entrypoint', async () => {
    await expect(loadBundle(new TextEncoder().encode('garbage'))).rejects.toThrow(BundleProblem)
    const files = readTarGz(shipped, { maxBytes: 1 << 24, maxEntries: 100 })
    const without = new Map(files)
    without.delete('policy.wasm')
    expect(() => readBundle(writeTarGz(without))).toThrow(/no WebAssembly module/)
    const renamed = new Map(files)
    renamed.set(
      '.manifest',
      new TextEncoder().encode('{"wasm":[{"entrypoint":"other/rule","module":"/policy.wasm"}]}'),
    )
    expect(() => readBundle(writeTarGz(renamed))).toThrow(
      /does not compile the entrypoint rxt\/decision\/result/,
    )
    const broken = new Map(files)
    broken.set('policy.wasm', new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 9]))
    await expect(loadBundle(writeTarGz(broken))).rejects.toThrow(/does not load/)
  })
})
