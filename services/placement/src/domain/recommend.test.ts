import type { PlacementCandidate } from '@rxt/contracts'
import { describeWorkload } from '@rxt/platform-sdk'
import { describe, expect, it } from 'vitest'
import { estimateCost, type PriceQuote, pointAt } from './cost.ts'
import { applyMatrix, decisionMatrix } from './decision-matrix.ts'
import { bareVm, deploy, flexVm, plainK8s, spotK8s, view } from './fixtures/providers.ts'
import { type Recommendation, recommend } from './recommend.ts'

const now = new Date('2026-01-01T00:05:00Z')
const web = (extra = '') =>
  deploy(`image: ghcr.io/acme/shop:2.1.0
replicas: 2
resources: { cpu: "1", memory: 2Gi }
ports: [{ name: http, port: 8080, protocol: http }]
network: { visibility: public, hostnames: [shop.example.com], tls: required }
${extra}`)
const all = () => [view(spotK8s()), view(plainK8s()), view(flexVm()), view(bareVm())]
const candidate = (r: Recommendation, name: string): PlacementCandidate => {
  const found = r.candidates.find((c) => c.provider === name)
  if (found === undefined) throw new Error(`no candidate ${name}`)
  return found
}
const filter = (c: PlacementCandidate, name: string) => c.filters.find((f) => f.name === name)

describe('the decision matrix', () => {
  /** One row per branch: the manifest, the provider, the filter, whether it passes, a word of the reason. */
  const cases = [
    [
      'preference container, vm',
      'platform: { preference: container }',
      flexVm,
      'preference',
      false,
      'set it to vm or auto',
    ],
    ['preference vm, vm', 'platform: { preference: vm }', flexVm, 'preference', true, 'allows'],
    ['stateful on VMs', 'stateful: true', flexVm, 'state', true, 'VM disks'],
    ['stateful on k8s with pvc', 'stateful: true', spotK8s, 'state', true, 'persistent volume claims'],
    ['stateful on k8s without pvc', 'stateful: true', plainK8s, 'state', false, 'go to VMs unless'],
    ['stateless anywhere', '', plainK8s, 'state', true, 'stateless'],
    [
      'pci-dss on k8s (certified)',
      'platform: { preference: auto, constraints: { compliance: [pci-dss] } }',
      spotK8s,
      'compliance',
      false,
      'VMs only',
    ],
    [
      'pci-dss on a certified VM',
      'platform: { preference: auto, constraints: { compliance: [pci-dss] } }',
      flexVm,
      'compliance',
      true,
      'holds pci-dss',
    ],
    [
      'pci-dss on an uncertified VM',
      'platform: { preference: auto, constraints: { compliance: [pci-dss] } }',
      bareVm,
      'compliance',
      false,
      'lacks pci-dss',
    ],
    [
      'hipaa with encryption',
      'platform: { preference: auto, constraints: { compliance: [hipaa] } }',
      flexVm,
      'encryption',
      true,
      'encrypts at rest',
    ],
    [
      'hipaa without encryption',
      'platform: { preference: auto, constraints: { compliance: [hipaa] } }',
      bareVm,
      'encryption',
      false,
      'encryption at rest',
    ],
    [
      'hipaa certified on k8s without encryption',
      'platform: { preference: auto, constraints: { compliance: [hipaa] } }',
      spotK8s,
      'encryption',
      false,
      'does not offer',
    ],
    [
      'regions shared',
      'platform: { preference: auto, constraints: { regions: [eu-west] } }',
      flexVm,
      'regions',
      true,
      'eu-west',
    ],
    [
      'regions apart',
      'platform: { preference: auto, constraints: { regions: [eu-west] } }',
      spotK8s,
      'regions',
      false,
      'none of',
    ],
    ['tls required, none', '', bareVm, 'tls', false, 'cannot terminate TLS'],
    ['tls off', 'network: { visibility: private, tls: "off" }', bareVm, 'tls', true, 'no TLS'],
    [
      'protocol missing',
      'ports: [{ name: raw, port: 9000, protocol: tcp }]',
      spotK8s,
      'protocols',
      false,
      'does not serve tcp',
    ],
    [
      'autoscaling, none',
      'autoscaling: { minReplicas: 2, maxReplicas: 4 }',
      flexVm,
      'autoscaling',
      false,
      'does not autoscale',
    ],
    [
      'autoscaling offered',
      'autoscaling: { minReplicas: 2, maxReplicas: 4 }',
      spotK8s,
      'autoscaling',
      true,
      'autoscales',
    ],
    ['too many replicas', 'autoscaling: { minReplicas: 2, maxReplicas: 60 }', spotK8s, 'size', true, 'takes'],
    ['cpu above max', 'resources: { cpu: "12", memory: 2Gi }', plainK8s, 'size', false, 'resources.cpu 12'],
    [
      'memory above max',
      'resources: { cpu: "1", memory: 64Gi }',
      plainK8s,
      'size',
      false,
      'resources.memory 65536',
    ],
    ['replicas above max', 'replicas: 60', flexVm, 'size', false, 'spec.replicas 60'],
    [
      'volumes above max',
      'volumes: [{ name: data, mountPath: /data, size: 200Gi }]',
      bareVm,
      'size',
      false,
      '200 GiB',
    ],
    [
      'within the cost ceiling',
      'platform: { preference: auto, constraints: { maxMonthlyCost: 100 } }',
      spotK8s,
      'cost',
      true,
      'within $100.00',
    ],
    [
      'above the cost ceiling',
      'platform: { preference: auto, constraints: { maxMonthlyCost: 10 } }',
      flexVm,
      'cost',
      false,
      'above platform.constraints.maxMonthlyCost',
    ],
    ['no cost ceiling', '', flexVm, 'cost', true, 'no ceiling'],
  ] as const
  const base = `image: ghcr.io/acme/shop:2.1.0
ports: [{ name: http, port: 8080, protocol: http }]
network: { visibility: public, hostnames: [shop.example.com], tls: required }`
  for (const [title, extra, provider, name, passed, words] of cases) {
    it(`${title}: ${name} ${passed ? 'passes' : 'fails'}`, () => {
      // A later key replaces an earlier one: the case's fields win over the base's.
      const lines = [...base.split('\n'), ...extra.split('\n')].filter((l) => l !== '')
      const keyed = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l]))
      const manifest = deploy([...keyed.values()].join('\n'))
      const workload = describeWorkload(manifest)
      const p = provider()
      const filters = applyMatrix({
        manifest,
        workload,
        provider: p,
        state: view(p),
        cost: estimateCost(workload, p.spec.pricing, null, undefined, now),
      })
      const found = filters.find((f) => f.name === name)
      expect(found?.passed).toBe(passed)
      expect(found?.reason).toContain(words)
    })
  }

  it('autoscaling inverted (stored overrides can make it so): autoscaling fails', () => {
    const loaded = web('autoscaling: { minReplicas: 2, maxReplicas: 4 }')
    const manifest = {
      ...loaded,
      spec: { ...loaded.spec, autoscaling: { minReplicas: 5, maxReplicas: 4, targetCpuPercent: 70 } },
    }
    const r = recommend({ manifest, providers: [view(spotK8s())], now })
    expect(filter(candidate(r, 'spot-k8s'), 'autoscaling')).toMatchObject({ passed: false })
    expect(filter(candidate(r, 'spot-k8s'), 'autoscaling')?.reason).toContain('above autoscaling.maxReplicas')
  })

  it('gpu: asked by the label, met only by a provider with GPUs', () => {
    const manifest = deploy('image: ghcr.io/acme/shop:2.1.0', '{ rxt.dev/gpu: "true" }')
    const r = recommend({ manifest, providers: all(), now })
    expect(r).toMatchObject({ ok: true, provider: 'flex-vm' })
    expect(filter(candidate(r, 'spot-k8s'), 'gpu')).toMatchObject({ passed: false })
    expect(filter(candidate(r, 'flex-vm'), 'gpu')).toMatchObject({
      passed: true,
      reason: 'flex-vm offers GPUs',
    })
  })

  it('enabled and healthy: a disabled or unhealthy provider fails with what to do', () => {
    const manifest = web()
    const r = recommend({
      manifest,
      providers: [
        view(spotK8s(), { enabled: false }),
        view(plainK8s(), { health: { healthy: false, checkedAt: null, message: 'no adapter has reported' } }),
      ],
      now,
    })
    expect(r.ok).toBe(false)
    expect(filter(candidate(r, 'spot-k8s'), 'enabled')?.reason).toContain('an operator must enable it')
    expect(filter(candidate(r, 'plain-k8s'), 'healthy')?.reason).toContain('never checked')
    // plain-k8s would take it once healthy: later may succeed.
    expect(r).toMatchObject({ ok: false, retryable: true })
  })

  it('puts every candidate through every rule, in the order of the matrix', () => {
    const r = recommend({ manifest: web(), providers: all(), now })
    for (const c of r.candidates)
      expect(c.filters.map((f) => f.name)).toEqual(decisionMatrix.map((m) => m.name))
  })
})

describe('the cost estimate', () => {
  it('is the price sheet multiplied out: compute, storage and the egress hint', () => {
    const manifest = deploy(
      `image: ghcr.io/acme/db:1
replicas: 3
stateful: true
resources: { cpu: 1500m, memory: 3Gi }
volumes: [{ name: data, mountPath: /data, size: 50Gi }]`,
      '{ rxt.dev/egress-gib-month: "120" }',
    )
    const r = recommend({ manifest, providers: [view(flexVm())], now })
    // 730 h × 3 × (1.5 × 0.03 + 3 × 0.004) + 50 × 0.12 + 120 × 0.02 = 124.83 + 6 + 2.4
    expect(candidate(r, 'flex-vm').monthlyCost).toBe(133.23)
    expect(candidate(r, 'flex-vm').terms[0]?.detail).toContain('120 GiB egress × $0.02')
  })

  it('counts no egress without a hint, and says so', () => {
    const r = recommend({ manifest: web(), providers: [view(flexVm())], now })
    // 730 × 2 × (1 × 0.03 + 2 × 0.004) = 55.48
    expect(candidate(r, 'flex-vm').monthlyCost).toBe(55.48)
    expect(candidate(r, 'flex-vm').terms[0]?.detail).toContain('egress 0 (no rxt.dev/egress-gib-month hint)')
  })

  const quote = (quotedAt = '2026-01-01T00:04:00Z'): PriceQuote => ({
    points: [
      { percentile: 50, vcpuHour: 0.004, memoryGiBHour: 0.0005, preemptionRisk: 0.3 },
      { percentile: 90, vcpuHour: 0.008, memoryGiBHour: 0.001, preemptionRisk: 0.05 },
      { percentile: 99, vcpuHour: 0.011, memoryGiBHour: 0.0015, preemptionRisk: 0.01 },
    ],
    simulated: true,
    quotedAt,
    intervalMs: 60_000,
  })

  it('quotes a spot provider at its ceiling percentile, with the preemption risk there', () => {
    const r = recommend({
      manifest: web(),
      providers: [view(spotK8s())],
      prices: new Map([['spot-k8s', quote()]]),
      now,
    })
    const c = candidate(r, 'spot-k8s')
    // 730 × 2 × (1 × 0.008 + 2 × 0.001) = 14.60
    expect(c.monthlyCost).toBe(14.6)
    expect(c.terms.find((t) => t.name === 'preemption-risk')).toMatchObject({ rating: 0.95 })
    expect(c.terms[0]?.detail).toContain('spot p90')
  })

  it('gate: a stateful workload goes to VMs even where spot containers with volumes cost a third', () => {
    const r = recommend({
      manifest: web('stateful: true\nvolumes: [{ name: data, mountPath: /data, size: 10Gi }]'),
      providers: [view(spotK8s()), view(flexVm())],
      prices: new Map([['spot-k8s', quote()]]),
      now,
    })
    expect(r).toMatchObject({ ok: true, provider: 'flex-vm', kind: 'vm' })
    const spot = candidate(r, 'spot-k8s')
    // Eligible (it offers volume claims), cheaper, and still second: state weighs fit over price.
    expect(spot.eligible).toBe(true)
    expect(spot.monthlyCost).toBeLessThan(candidate(r, 'flex-vm').monthlyCost ?? 0)
    expect(spot.terms.map((t) => [t.name, t.weight])).toEqual([
      ['cost', 0.3],
      ['fit', 0.5],
      ['preemption-risk', 0.2],
    ])
    expect(spot.terms.find((t) => t.name === 'fit')?.detail).toContain(
      'preempted node takes its volume claims',
    )
  })

  it('uses list prices when no feed has arrived, or it is stale, and says so', () => {
    const none = candidate(recommend({ manifest: web(), providers: [view(spotK8s())], now }), 'spot-k8s')
    // 730 × 2 × (1 × 0.012 + 2 × 0.0016) = 22.192
    expect(none.monthlyCost).toBe(22.19)
    expect(none.terms[0]?.detail).toContain('no spot price feed has arrived yet: list prices used')
    expect(none.terms.find((t) => t.name === 'preemption-risk')).toMatchObject({ rating: 0.5 })
    const stale = recommend({
      manifest: web(),
      providers: [view(spotK8s())],
      prices: new Map([['spot-k8s', quote('2026-01-01T00:00:00Z')]]),
      now,
    })
    expect(candidate(stale, 'spot-k8s').terms[0]?.detail).toContain('is stale: list prices used')
  })

  it('never quotes below the ceiling percentile', () => {
    expect(pointAt(quote().points, 60)?.percentile).toBe(90)
    expect(pointAt(quote().points, 99)?.percentile).toBe(99)
    expect(pointAt(quote().points.slice(0, 2), 95)?.percentile).toBe(90)
  })
})

describe('the recommendation', () => {
  it('scores each eligible candidate as the weighted sum of its terms; ineligible ones score 0', () => {
    const r = recommend({ manifest: web(), providers: all(), now })
    for (const c of r.candidates) {
      if (!c.eligible) {
        expect(c.score).toBe(0)
        expect(c.terms).toEqual([])
        continue
      }
      const sum = c.terms.reduce((s, t) => s + t.rating * t.weight, 0)
      expect(c.score).toBeCloseTo(sum, 4)
      expect(c.terms.map((t) => t.name)).toEqual(['cost', 'fit', 'preemption-risk'])
    }
  })

  it('a stateless web service goes to containers, the cheapest with the best fit', () => {
    const r = recommend({ manifest: web(), providers: all(), now })
    expect(r).toMatchObject({ ok: true, kind: 'k8s', platform: 'rxt-spot', provider: 'plain-k8s' })
    if (r.ok) expect(r.reasoning).toContain('stateless: containers preferred')
  })

  it('gate: a stateful workload goes to a VM provider', () => {
    const r = recommend({
      manifest: web('stateful: true'),
      providers: [view(plainK8s()), view(flexVm())],
      now,
    })
    expect(r).toMatchObject({ ok: true, kind: 'vm', provider: 'flex-vm' })
    expect(filter(candidate(r, 'plain-k8s'), 'state')?.passed).toBe(false)
  })

  it('gate: a pci-dss workload never lands on Kubernetes, even a certified and cheaper one', () => {
    const manifest = web('platform: { preference: auto, constraints: { compliance: [pci-dss] } }')
    const r = recommend({ manifest, providers: all(), now })
    expect(r).toMatchObject({ ok: true, kind: 'vm', provider: 'flex-vm' })
    for (const c of r.candidates.filter((x) => x.kind === 'k8s')) expect(c.eligible).toBe(false)
    const containerOnly = recommend({ manifest, providers: [view(spotK8s()), view(plainK8s())], now })
    expect(containerOnly).toMatchObject({ ok: false, retryable: false })
  })

  it('hipaa goes to a certified provider with encryption at rest', () => {
    const r = recommend({
      manifest: web('platform: { preference: auto, constraints: { compliance: [hipaa] } }'),
      providers: all(),
      now,
    })
    expect(r).toMatchObject({ ok: true, provider: 'flex-vm', target: { encryptionAtRest: true } })
    if (r.ok) expect(r.target.compliance).toContain('hipaa')
  })

  it('gate: every candidate carries reasons people can read', () => {
    const r = recommend({ manifest: web(), providers: all(), now })
    expect(r.candidates).toHaveLength(4)
    for (const c of r.candidates) {
      expect(c.filters.length).toBeGreaterThan(0)
      for (const f of c.filters) expect(f.reason).toMatch(/\w+ \w+/)
    }
    if (r.ok) expect(r.reasoning).toMatch(/ruled out: .*bare-vm cannot terminate TLS/)
  })

  it('is deterministic and independent of the order providers come in', () => {
    const a = recommend({ manifest: web(), providers: all(), now })
    const b = recommend({ manifest: web(), providers: [...all()].reverse(), now })
    expect(b).toEqual(a)
  })

  it('follows a pin that passes the filters, and says so', () => {
    const pin = { provider: 'flex-vm', reason: 'k8s maintenance', by: 'usr_ops' }
    const r = recommend({ manifest: web(), providers: all(), pin, now })
    expect(r).toMatchObject({
      ok: true,
      provider: 'flex-vm',
      pinned: { reason: 'k8s maintenance', by: 'usr_ops' },
    })
    if (r.ok) expect(r.reasoning).toContain('pinned by usr_ops')
  })

  it('fails a pin to a provider that cannot run the workload, saying why', () => {
    const pin = { provider: 'bare-vm', reason: 'cheap', by: 'usr_ops' }
    const r = recommend({ manifest: web(), providers: all(), pin, now })
    expect(r).toMatchObject({ ok: false, retryable: false })
    if (!r.ok)
      expect(r.reason).toMatch(
        /pinned to bare-vm \(cheap\), which cannot run it: bare-vm cannot terminate TLS/,
      )
  })

  it('follows a pin against what it only advises (a pci-dss workload on Kubernetes), for policy to judge', () => {
    const manifest = web('platform: { preference: auto, constraints: { compliance: [pci-dss] } }')
    const pin = { provider: 'spot-k8s', reason: 'the VMs are full', by: 'usr_ops' }
    const r = recommend({ manifest, providers: all(), pin, now })
    expect(r).toMatchObject({ ok: true, provider: 'spot-k8s', kind: 'k8s', pinned: { by: 'usr_ops' } })
    expect(filter(candidate(r, 'spot-k8s'), 'compliance')?.passed).toBe(false)
    if (r.ok)
      expect(r.reasoning).toMatch(/kept despite what placement advises against .*policy decides at admission/)
  })

  it('says so when no provider is registered', () => {
    expect(recommend({ manifest: web(), providers: [], now })).toMatchObject({
      ok: false,
      reason: 'No provider can run shop: no provider is registered; an operator must add one',
    })
  })
})
