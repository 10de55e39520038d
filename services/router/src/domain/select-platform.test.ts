import { describe, expect, it } from 'vitest'
import { deploy, rxtSpot, sddcFlex, variant, view } from './fixtures/load.ts'
import { applyEnvironment } from './plan.ts'
import {
  type Candidate,
  defaultCpu,
  defaultMemoryMiB,
  parseBytesMiB,
  parseCpu,
  type Selection,
  selectPlatform,
} from './select-platform.ts'

/** The shop: 2 replicas of 1 vCPU / 2 GiB, one HTTP port on a public hostname, pci-dss in us-east. */
const shop = (
  extra = '',
  constraints = '{ compliance: [pci-dss], regions: [us-east], maxMonthlyCost: 500 }',
) =>
  deploy(`
image: ghcr.io/acme/shop:2.1.0
platform:
  preference: auto
  constraints: ${constraints}
resources: { cpu: "1", memory: 2Gi }
replicas: 2
ports: [{ name: http, port: 8080, protocol: http }]
network: { visibility: public, hostnames: [shop.example.com], tls: required }
${extra}`)

/** The shop with another preference. */
const prefer = (preference: 'auto' | 'vm' | 'container') => {
  const m = shop()
  return { ...m, spec: { ...m.spec, platform: { ...m.spec.platform, preference } } }
}

// 730 h × 2 × (1 × 0.012 + 2 × 0.0016) = 22.192; SDDC Flex: 730 × 2 × (0.03 + 2 × 0.004) = 55.48
const spotCost = 22.19
const flexCost = 55.48

const candidate = (selection: Selection, provider: string): Candidate => {
  const found = selection.candidates.find((c) => c.provider === provider)
  if (found === undefined) throw new Error(`no candidate ${provider}`)
  return found
}

/** The one provider's reasons when it is measured alone against a manifest. */
const reasonsAlone = (...args: Parameters<typeof selectPlatform>) => {
  const selection = selectPlatform(...args)
  expect(selection.ok).toBe(false)
  return selection.candidates.flatMap((c) => c.reasons)
}

describe('selectPlatform: preference', () => {
  it('auto: the cheapest eligible provider wins, and the reason says why in one sentence', () => {
    const selection = selectPlatform(shop(), [view(sddcFlex()), view(rxtSpot())])
    expect(selection).toMatchObject({ ok: true, provider: 'rxt-spot', kind: 'k8s', monthlyCost: spotCost })
    expect(selection.reason).toBe(
      'no platform preference; rxt-spot is the cheapest healthy provider that meets pci-dss in us-east within $500.00/month ($22.19/month)',
    )
    expect(selection.candidates.map((c) => [c.provider, c.eligible, c.monthlyCost])).toEqual([
      ['rxt-spot', true, spotCost],
      ['sddc-flex', true, flexCost],
    ])
    expect(candidate(selection, 'sddc-flex').reasons).toEqual([
      'sddc-flex runs vm, which platform.preference auto allows',
      'sddc-flex holds pci-dss',
      'sddc-flex runs in us-east',
      'sddc-flex costs an estimated $55.48/month, within $500.00',
    ])
  })

  it('auto: a VM provider wins when it is the cheaper one', () => {
    const cheapFlex = variant(sddcFlex(), { pricing: { vcpuHour: 0.001, memoryGiBHour: 0.0001 } })
    const selection = selectPlatform(shop(), [view(rxtSpot()), view(cheapFlex)])
    expect(selection).toMatchObject({ ok: true, provider: 'sddc-flex', kind: 'vm' })
  })

  it('container: only k8s providers, even when a VM provider is cheaper', () => {
    const cheapFlex = variant(sddcFlex(), { pricing: { vcpuHour: 0.001, memoryGiBHour: 0.0001 } })
    const selection = selectPlatform(prefer('container'), [view(cheapFlex), view(rxtSpot())])
    expect(selection).toMatchObject({ ok: true, provider: 'rxt-spot', kind: 'k8s' })
    expect(selection.reason).toMatch(
      /^container preferred; rxt-spot is the only healthy provider that meets pci-dss/,
    )
    expect(candidate(selection, 'sddc-flex')).toMatchObject({
      eligible: false,
      reasons: [
        'sddc-flex runs vm but platform.preference is container; set it to vm or auto to allow sddc-flex',
      ],
    })
  })

  it('vm: only VM providers, even when a k8s provider is cheaper', () => {
    const selection = selectPlatform(prefer('vm'), [view(rxtSpot()), view(sddcFlex())])
    expect(selection).toMatchObject({ ok: true, provider: 'sddc-flex', kind: 'vm', monthlyCost: flexCost })
    expect(selection.reason).toMatch(/^VM preferred; sddc-flex is the only healthy provider/)
    expect(candidate(selection, 'rxt-spot').reasons).toEqual([
      'rxt-spot runs k8s but platform.preference is vm; set it to container or auto to allow rxt-spot',
    ])
  })

  it('a manifest without platform is auto, and a provider with nothing asked simply fits', () => {
    const selection = selectPlatform(deploy('image: ghcr.io/acme/hello:1.0.0'), [view(rxtSpot())])
    expect(selection.ok && selection.reason).toBe(
      'no platform preference; rxt-spot is the only healthy provider that fits the workload ($4.96/month)',
    )
  })
})

describe('selectPlatform: each reason a provider is not eligible', () => {
  it('disabled', () => {
    expect(reasonsAlone(shop(), [view(rxtSpot(), { enabled: false })])).toEqual([
      'rxt-spot is disabled; an operator must enable it before it takes workloads',
    ])
  })

  it('unhealthy, with when it was checked and what the check said, or that it never was', () => {
    const health = { healthy: false, checkedAt: '2025-03-01T10:00:00Z', message: 'API timed out' }
    expect(reasonsAlone(shop(), [view(rxtSpot(), { health })])).toEqual([
      'rxt-spot is unhealthy (checked 2025-03-01T10:00:00Z: API timed out); it takes workloads again once its health check passes',
    ])
    const never = { healthy: false, checkedAt: null, message: '' }
    expect(reasonsAlone(shop(), [view(rxtSpot(), { health: never })])[0]).toContain('(never checked)')
    // Only its health keeps it out: asking again later may succeed. Disabled too: it may not.
    expect(selectPlatform(shop(), [view(rxtSpot(), { health })])).toMatchObject({
      ok: false,
      retryable: true,
    })
    expect(selectPlatform(shop(), [view(rxtSpot(), { health, enabled: false })])).toMatchObject({
      ok: false,
      retryable: false,
    })
  })

  it('lacks a certification the manifest requires', () => {
    const hipaa = shop('', '{ compliance: [pci-dss, hipaa] }')
    expect(reasonsAlone(hipaa, [view(rxtSpot())])).toEqual([
      'rxt-spot lacks hipaa certification (it holds pci-dss, soc2) that platform.constraints.compliance requires',
    ])
  })

  it('runs in none of the regions the manifest allows; without regions any region does', () => {
    const eu = shop('', '{ regions: [eu-west, ap-south] }')
    expect(reasonsAlone(eu, [view(rxtSpot())])).toEqual([
      'rxt-spot runs in us-east, us-west, none of platform.constraints.regions (eu-west, ap-south); add one of its regions to allow it',
    ])
    const selection = selectPlatform(eu, [view(sddcFlex())])
    expect(selection.ok && selection.reason).toContain('that runs in eu-west')
    expect(selectPlatform(shop('', '{}'), [view(rxtSpot())]).ok).toBe(true)
  })

  it('does not serve a protocol a port uses', () => {
    const noTcp = variant(rxtSpot(), { capabilities: { protocols: ['http', 'grpc'] } })
    const m = shop('', '{}')
    const withTcp = {
      ...m,
      spec: {
        ...m.spec,
        ports: [...(m.spec.ports ?? []), { name: 'db', port: 5432, protocol: 'tcp' as const }],
      },
    }
    expect(reasonsAlone(withTcp, [view(noTcp)])).toEqual([
      'rxt-spot does not serve tcp (port db, 5432); it serves http, grpc',
    ])
  })

  it('cannot terminate TLS when network.tls is required or optional; tls off needs none', () => {
    const noTls = variant(rxtSpot(), { capabilities: { tls: false } })
    expect(reasonsAlone(shop(), [view(noTls)])).toEqual([
      'rxt-spot cannot terminate TLS but network.tls is required; set network.tls to off or choose a provider with TLS',
    ])
    const m = shop()
    const tls = (mode: 'optional' | 'off') => ({
      ...m,
      spec: { ...m.spec, network: { visibility: 'public' as const, tls: mode } },
    })
    expect(reasonsAlone(tls('optional'), [view(noTls)])[0]).toContain('network.tls is optional')
    expect(selectPlatform(tls('off'), [view(noTls)]).ok).toBe(true)
  })

  it('does not autoscale when the manifest autoscales', () => {
    const scaled = shop('autoscaling: { minReplicas: 2, maxReplicas: 6 }')
    expect(reasonsAlone(scaled, [view(sddcFlex())])).toEqual([
      'sddc-flex does not autoscale but spec.autoscaling is set; remove it and set spec.replicas',
    ])
  })

  it('autoscaling.minReplicas above maxReplicas blocks every provider, with the reason', () => {
    // deploy.yaml refuses it (loadManifest); selection still refuses a manifest built another way.
    const valid = shop('autoscaling: { minReplicas: 2, maxReplicas: 6 }', '{}')
    const inverted = {
      ...valid,
      spec: { ...valid.spec, autoscaling: { minReplicas: 6, maxReplicas: 2, targetCpuPercent: 70 } },
    }
    const selection = selectPlatform(inverted, [view(rxtSpot()), view(sddcFlex())])
    expect(selection.ok).toBe(false)
    expect(selection.candidates.map((c) => c.eligible)).toEqual([false, false])
    for (const c of selection.candidates) {
      expect(c.reasons).toContain(
        `${c.provider} cannot scale between 6 and 2: autoscaling.minReplicas (6) is above autoscaling.maxReplicas (2); set minReplicas at most maxReplicas`,
      )
    }
    // Equal bounds are fine
    expect(
      selectPlatform(shop('autoscaling: { minReplicas: 2, maxReplicas: 2 }', '{}'), [view(rxtSpot())]).ok,
    ).toBe(true)
  })

  it('cannot keep state when the manifest is stateful or has volumes', () => {
    const stateless = variant(rxtSpot(), { capabilities: { stateful: false } })
    expect(reasonsAlone(shop('stateful: true'), [view(stateless)])).toEqual([
      'rxt-spot cannot keep state on volumes but spec.stateful is true',
    ])
    const volumes = shop('volumes: [{ name: cache, mountPath: /cache, size: 1Gi }]')
    expect(reasonsAlone(volumes, [view(stateless)])).toEqual([
      'rxt-spot cannot keep state on volumes but spec.volumes names cache',
    ])
  })

  it('is smaller than a replica, the volumes, or the number of replicas', () => {
    const small = variant(rxtSpot(), {
      capabilities: { max: { cpu: 0.5, memoryMiB: 1024, storageGiB: 10, replicas: 1 } },
    })
    const big = shop(
      'volumes: [{ name: data, mountPath: /data, size: 8Gi }, { name: logs, mountPath: /logs, size: 4Gi }]',
      '{}',
    )
    expect(reasonsAlone(big, [view(small)])).toEqual([
      'rxt-spot takes at most 0.5 vCPU per replica; resources.cpu asks for 1',
      'rxt-spot takes at most 1024 MiB of memory per replica; resources.memory asks for 2048 MiB',
      'rxt-spot takes at most 10 GiB of storage; spec.volumes total 12 GiB',
      'rxt-spot runs at most 1 replica; spec.replicas asks for 2',
    ])
  })

  it('counts autoscaling.maxReplicas against the most replicas a provider runs', () => {
    const few = variant(rxtSpot(), {
      capabilities: { max: { cpu: 16, memoryMiB: 65536, storageGiB: 0, replicas: 5 } },
    })
    const scaled = shop('autoscaling: { minReplicas: 2, maxReplicas: 8 }', '{}')
    expect(reasonsAlone(scaled, [view(few)])).toEqual([
      'rxt-spot runs at most 5 replicas; autoscaling.maxReplicas asks for 8',
    ])
  })

  it('costs more than maxMonthlyCost', () => {
    const tight = shop('', '{ maxMonthlyCost: 20 }')
    expect(reasonsAlone(tight, [view(rxtSpot())])).toEqual([
      'rxt-spot would cost $22.19/month, above platform.constraints.maxMonthlyCost $20.00',
    ])
  })

  it('lists every reason at once, not just the first', () => {
    const health = { healthy: false, checkedAt: null, message: 'down' }
    const reasons = reasonsAlone(prefer('vm'), [view(rxtSpot(), { enabled: false, health })])
    expect(reasons.map((r) => r.split(' ').slice(1, 3).join(' '))).toEqual([
      'is disabled;',
      'is unhealthy',
      'runs k8s',
    ])
  })
})

describe('selectPlatform: ties and none eligible', () => {
  it('at equal cost a real provider comes before a simulated one, whatever the names', () => {
    const sim = variant(rxtSpot(), { name: 'a-sim', simulated: true })
    const selection = selectPlatform(shop(), [view(sim), view(rxtSpot())])
    expect(selection).toMatchObject({ ok: true, provider: 'rxt-spot' })
    expect(selection.reason).toContain(
      'it ties with a-sim on cost and comes first because a-sim is simulated',
    )
    expect(selection.candidates.map((c) => c.provider)).toEqual(['rxt-spot', 'a-sim'])
  })

  it('at equal cost and both real, the name decides', () => {
    const twin = variant(rxtSpot(), { name: 'rxt-spot-b' })
    const selection = selectPlatform(shop(), [view(twin), view(rxtSpot())])
    expect(selection).toMatchObject({ ok: true, provider: 'rxt-spot' })
    expect(selection.reason).toContain('comes first because of the name order')
  })

  it('uses 0.5 vCPU and 512 MiB per replica when resources are absent', () => {
    expect([defaultCpu, defaultMemoryMiB]).toEqual([0.5, 512])
    // 730 × 1 × (0.5 × 0.012 + 0.5 × 0.0016) = 4.964, and 10 GiB of volume at 0.1
    const m = deploy('image: ghcr.io/acme/a:1\nvolumes: [{ name: data, mountPath: /data, size: 10Gi }]')
    expect(selectPlatform(m, [view(rxtSpot())])).toMatchObject({ ok: true, monthlyCost: 5.96 })
  })

  it('none eligible: ok false, a reason naming each provider, every candidate with its reasons', () => {
    const hipaaEu = shop(
      'autoscaling: { minReplicas: 2, maxReplicas: 4 }',
      '{ compliance: [hipaa], regions: [us-west] }',
    )
    const selection = selectPlatform(hipaaEu, [view(sddcFlex()), view(rxtSpot(), { enabled: false })])
    expect(selection.ok).toBe(false)
    expect(selection.reason).toBe(
      'No provider can run shop: rxt-spot is disabled; an operator must enable it before it takes workloads (and 1 more); ' +
        'sddc-flex runs in us-east, eu-west, none of platform.constraints.regions (us-west); add one of its regions to allow it (and 1 more)',
    )
    expect(selection.candidates).toEqual([
      {
        provider: 'rxt-spot',
        eligible: false,
        reasons: [
          'rxt-spot is disabled; an operator must enable it before it takes workloads',
          'rxt-spot lacks hipaa certification (it holds pci-dss, soc2) that platform.constraints.compliance requires',
        ],
        monthlyCost: spotCost,
      },
      {
        provider: 'sddc-flex',
        eligible: false,
        reasons: [
          'sddc-flex runs in us-east, eu-west, none of platform.constraints.regions (us-west); add one of its regions to allow it',
          'sddc-flex does not autoscale but spec.autoscaling is set; remove it and set spec.replicas',
        ],
        monthlyCost: flexCost,
      },
    ])
  })

  it('no provider at all', () => {
    expect(selectPlatform(shop(), [])).toEqual({
      ok: false,
      reason: 'No provider can run shop: no provider is registered; an operator must add one',
      candidates: [],
      retryable: false,
    })
  })
})

describe('selectPlatform: after environment overrides', () => {
  // Production asks 20 vCPU and 16 GiB a replica: more than RXT Spot's 16 vCPU, and dearer everywhere.
  const staged = shop(
    'environments:\n  production:\n    resources: { cpu: "20", memory: 16Gi }',
    '{ regions: [us-east] }',
  )
  const providers = [view(rxtSpot()), view(sddcFlex())]

  it('an environment without overrides selects on the top-level values', () => {
    expect(applyEnvironment(staged, 'staging')).toBe(staged)
    expect(selectPlatform(applyEnvironment(staged, 'staging'), providers)).toMatchObject({
      ok: true,
      provider: 'rxt-spot',
      monthlyCost: spotCost,
    })
  })

  it("production's larger resources change the cost and which provider is eligible", () => {
    const selection = selectPlatform(applyEnvironment(staged, 'production'), providers)
    // 730 × 2 × (20 × 0.03 + 16 × 0.004) = 969.44; RXT Spot: 730 × 2 × (20 × 0.012 + 16 × 0.0016) = 387.776
    expect(selection).toMatchObject({ ok: true, provider: 'sddc-flex', kind: 'vm', monthlyCost: 969.44 })
    expect(candidate(selection, 'rxt-spot')).toEqual({
      provider: 'rxt-spot',
      eligible: false,
      reasons: ['rxt-spot takes at most 16 vCPU per replica; resources.cpu asks for 20'],
      monthlyCost: 387.78,
    })
    // Unapplied, the override changes nothing: the caller applies it beforehand
    expect(selectPlatform(staged, providers)).toMatchObject({ provider: 'rxt-spot', monthlyCost: spotCost })
  })
})

describe('parseCpu and parseBytesMiB', () => {
  it('read the quantities deploy.yaml allows', () => {
    expect([parseCpu('500m'), parseCpu('2'), parseCpu('0.25'), parseCpu('1500m')]).toEqual([
      0.5, 2, 0.25, 1.5,
    ])
    expect([
      parseBytesMiB('512Mi'),
      parseBytesMiB('2Gi'),
      parseBytesMiB('1Ti'),
      parseBytesMiB('64Ki'),
    ]).toEqual([512, 2048, 1048576, 0.0625])
  })

  it('refuse anything else', () => {
    expect(() => parseCpu('half')).toThrow(RangeError)
    expect(() => parseCpu('')).toThrow(RangeError)
    expect(() => parseBytesMiB('2GB')).toThrow(RangeError)
    expect(() => parseBytesMiB('Mi')).toThrow(RangeError)
  })
})
