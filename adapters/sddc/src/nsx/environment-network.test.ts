// The NSX client and the environment network it applies, against the simulation of the NSX Policy API
// (not NSX: see nsx-sim/nsx-simulator.ts).
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NsxSimulator, startNsxSimulator } from '../nsx-sim/nsx-simulator.ts'
import { makeTestCertificates, type TestCertificates } from '../nsx-sim/test-certificates.ts'
import {
  applyEnvironmentNetwork,
  destroyEnvironmentNetwork,
  type EnvironmentNetworkSpec,
  listEnvironmentNetwork,
  networkRealization,
} from './environment-network.ts'
import { createNsxClient, type NsxClient } from './nsx-client.ts'
import { NsxError } from './nsx-error.ts'

const account = { username: 'admin', password: `pw-${randomBytes(8).toString('hex')}` }
let sim: NsxSimulator
let client: NsxClient
let pki: TestCertificates

beforeAll(async () => {
  pki = makeTestCertificates()
  sim = await startNsxSimulator(account)
  client = createNsxClient({ url: sim.url, credentials: account })
})
afterAll(async () => {
  await client?.close()
  await sim?.close()
})

const run = randomBytes(3).toString('hex')
const specOf = (envId: string, overrides: Partial<EnvironmentNetworkSpec> = {}): EnvironmentNetworkSpec => ({
  env: { tenantId: 't-acme', projectId: 'p-shop', envId },
  tier1: { tier0Path: '/infra/tier-0s/sim-t0' },
  segment: { gatewayCidr: '10.20.0.1/24' },
  loadBalancer: {
    virtualIp: '10.20.0.10',
    ports: [443],
    members: [
      { ip: '10.20.0.21', port: 8080 },
      { ip: '10.20.0.22', port: 8080 },
    ],
    tls: { certificatePem: pki.site.cert, privateKeyPem: pki.site.key },
  },
  firewall: {
    rules: [
      { name: 'allow-https', action: 'ALLOW', from: 'any', services: ['/infra/services/HTTPS'] },
      { name: 'drop-rest', action: 'DROP', from: 'any', services: 'any' },
    ],
  },
  ...overrides,
})

const unwrap = <T>(outcome: { ok: true; value: T } | { ok: false; failure: { message: string } }): T => {
  if (!outcome.ok) throw new Error(`expected success, got: ${outcome.failure.message}`)
  return outcome.value
}

const held = (envId: string) =>
  sim.objects().filter((o) => (o.tags as { scope: string; tag: string }[]).some((t) => t.tag === envId))

describe('an environment network on the simulated NSX Policy API', () => {
  const envId = `e-${run}`
  const spec = () => specOf(envId)

  it('creates the segment, Tier-1, LB service, pool with members, TLS virtual server and firewall', async () => {
    const applied = unwrap(await applyEnvironmentNetwork(client, spec()))
    expect(applied.objects.map((o) => o.kind)).toEqual([
      'tier1',
      'segment',
      'certificate',
      'lb-service',
      'lb-pool',
      'lb-virtual-server',
      'group',
      'security-policy',
    ])
    expect(applied.changed).toHaveLength(8)
    const byPath = new Map(sim.objects().map((o) => [o.path as string, o]))
    const segment = byPath.get(`/infra/segments/rxt-${envId}-seg`)
    expect(segment?.connectivity_path).toBe(`/infra/tier-1s/rxt-${envId}-t1`)
    expect(segment?.subnets).toEqual([{ gateway_address: '10.20.0.1/24' }])
    const pool = byPath.get(`/infra/lb-pools/rxt-${envId}-pool`)
    expect(pool?.members).toEqual([
      { display_name: '10.20.0.21-8080', ip_address: '10.20.0.21', port: '8080' },
      { display_name: '10.20.0.22-8080', ip_address: '10.20.0.22', port: '8080' },
    ])
    const vs = byPath.get(`/infra/lb-virtual-servers/rxt-${envId}-vs`)
    expect(vs?.ip_address).toBe('10.20.0.10')
    expect(vs?.ports).toEqual(['443'])
    expect(vs?.pool_path).toBe(`/infra/lb-pools/rxt-${envId}-pool`)
    const certificatePath = (vs?.client_ssl_profile_binding as { default_certificate_path: string })
      .default_certificate_path
    expect(certificatePath).toMatch(new RegExp(`^/infra/certificates/rxt-${envId}-cert-[0-9a-f]{12}$`))
    // The certificate is read back without its key.
    const certificate = byPath.get(certificatePath)
    expect(certificate?.has_private_key).toBe(true)
    expect(certificate).not.toHaveProperty('private_key')
    const policy = byPath.get(`/infra/domains/default/security-policies/rxt-${envId}-fw`)
    expect((policy?.rules as { id: string; action: string }[]).map((r) => [r.id, r.action])).toEqual([
      ['allow-https', 'ALLOW'],
      ['drop-rest', 'DROP'],
    ])
    // Every object carries the tenant, project and environment tags.
    for (const object of held(envId))
      expect(object.tags).toEqual(
        expect.arrayContaining([
          { scope: 'rxt/tenant', tag: 't-acme' },
          { scope: 'rxt/project', tag: 'p-shop' },
          { scope: 'rxt/env', tag: envId },
        ]),
      )
  })

  it('reads as realized once NSX has realized every object, and as pending while it has not', async () => {
    const applied = unwrap(await applyEnvironmentNetwork(client, spec()))
    expect(unwrap(await networkRealization(client, applied.objects))).toEqual({
      realized: true,
      pending: [],
      failed: [],
    })
    sim.holdRealization(true)
    const held = unwrap(await networkRealization(client, applied.objects))
    sim.holdRealization(false)
    expect(held.realized).toBe(false)
    expect(held.pending).toEqual(applied.objects.map((o) => o.path))
  })

  it('applied again, writes nothing and keeps every id and revision', async () => {
    const before = held(envId).map((o) => [o.path, o._revision])
    const writes = sim.requests.filter((r) => r.method !== 'GET').length
    const applied = unwrap(await applyEnvironmentNetwork(client, spec()))
    expect(applied.changed).toEqual([])
    expect(applied.removed).toEqual([])
    expect(sim.requests.filter((r) => r.method !== 'GET').length).toBe(writes)
    expect(held(envId).map((o) => [o.path, o._revision])).toEqual(before)
  })

  it('a changed member list writes the pool alone', async () => {
    const changed = specOf(envId)
    const lb = changed.loadBalancer
    if (lb === undefined) throw new Error('the spec has a load balancer')
    const more = {
      ...changed,
      loadBalancer: { ...lb, members: [...lb.members, { ip: '10.20.0.23', port: 8080 }] },
    }
    const applied = unwrap(await applyEnvironmentNetwork(client, more))
    expect(applied.changed).toEqual([`rxt-${envId}-pool`])
    const pool = sim.objects().find((o) => o.id === `rxt-${envId}-pool`)
    expect(pool?._revision).toBe(1)
    expect(pool?.members).toHaveLength(3)
  })

  it('lists the environment by its tags, and not another environment of the same project', async () => {
    const other = `o-${run}`
    unwrap(
      await applyEnvironmentNetwork(client, specOf(other, { loadBalancer: undefined, firewall: undefined })),
    )
    const listed = unwrap(
      await listEnvironmentNetwork(client, { tenantId: 't-acme', projectId: 'p-shop', envId }),
    )
    expect(listed.map((o) => o.kind).sort()).toEqual(
      [
        'certificate',
        'group',
        'lb-pool',
        'lb-service',
        'lb-virtual-server',
        'security-policy',
        'segment',
        'tier1',
      ].sort(),
    )
    expect(listed.every((o) => o.id.startsWith(`rxt-${envId}-`))).toBe(true)
    const others = unwrap(
      await listEnvironmentNetwork(client, { tenantId: 't-acme', projectId: 'p-shop', envId: other }),
    )
    expect(others.map((o) => o.id).sort()).toEqual([`rxt-${other}-seg`, `rxt-${other}-t1`])
  })

  it('NSX refuses to delete a segment an LB still uses, which is why destroy goes in order', async () => {
    const error = await client.delete('lb-service', `rxt-${envId}-lbs`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NsxError)
    expect((error as NsxError).code).toBe('invalid')
    expect((error as NsxError).message).toContain(`/infra/lb-virtual-servers/rxt-${envId}-vs`)
  })

  it('a spec without the load balancer removes its virtual server, pool, service and certificate', async () => {
    const applied = unwrap(await applyEnvironmentNetwork(client, specOf(envId, { loadBalancer: undefined })))
    expect(applied.changed).toEqual([])
    expect(applied.removed.map((id) => id.replace(/-[0-9a-f]{12}$/, ''))).toEqual([
      `rxt-${envId}-vs`,
      `rxt-${envId}-pool`,
      `rxt-${envId}-lbs`,
      `rxt-${envId}-cert`,
    ])
    unwrap(await applyEnvironmentNetwork(client, spec()))
  })

  it('TLS dropped from the spec: the virtual server loses its binding and the certificate goes', async () => {
    const plain = specOf(envId)
    const lb = plain.loadBalancer
    if (lb === undefined) throw new Error('the spec has a load balancer')
    const { tls: _tls, ...withoutTls } = lb
    const applied = unwrap(await applyEnvironmentNetwork(client, { ...plain, loadBalancer: withoutTls }))
    expect(applied.changed).toEqual([`rxt-${envId}-vs`])
    expect(applied.removed).toHaveLength(1)
    expect(applied.removed[0]).toMatch(new RegExp(`^rxt-${envId}-cert-`))
    const vs = sim.objects().find((o) => o.id === `rxt-${envId}-vs`)
    expect(vs).not.toHaveProperty('client_ssl_profile_binding')
    unwrap(await applyEnvironmentNetwork(client, spec()))
  })

  it('a Tier-0 dropped from the spec is replaced with the revision read (a PATCH would keep it)', async () => {
    const puts = () => sim.requests.filter((r) => r.method === 'PUT').length
    const before = puts()
    const applied = unwrap(await applyEnvironmentNetwork(client, specOf(envId, { tier1: {} })))
    expect(applied.changed).toEqual([`rxt-${envId}-t1`])
    expect(puts()).toBe(before + 1)
    expect(sim.objects().find((o) => o.id === `rxt-${envId}-t1`)).not.toHaveProperty('tier0_path')
    unwrap(await applyEnvironmentNetwork(client, spec()))
    expect(sim.objects().find((o) => o.id === `rxt-${envId}-t1`)?.tier0_path).toBe('/infra/tier-0s/sim-t0')
  })

  it('destroys in dependency order and leaves nothing of the environment, and can be repeated', async () => {
    const destroyed = unwrap(await destroyEnvironmentNetwork(client, spec().env))
    const order = destroyed.deleted.map((o) => o.kind)
    const at = (kind: string) => order.indexOf(kind as (typeof order)[number])
    expect(at('lb-virtual-server')).toBeLessThan(at('lb-pool'))
    expect(at('lb-pool')).toBeLessThan(at('lb-service'))
    expect(at('lb-service')).toBeLessThan(at('segment'))
    expect(at('security-policy')).toBeLessThan(at('group'))
    expect(at('segment')).toBeLessThan(at('tier1'))
    expect(held(envId)).toEqual([])
    // The other environment is untouched.
    expect(held(`o-${run}`)).toHaveLength(2)
    unwrap(await destroyEnvironmentNetwork(client, spec().env))
    expect(held(envId)).toEqual([])
  })

  it('an object of the environment’s id that another environment’s tags name is neither changed nor deleted', async () => {
    const id = `taken-${run}`
    const foreignTags = [{ scope: 'rxt/env', tag: 'someone-else' }]
    await client.patch('segment', `rxt-${id}-seg`, { display_name: 'not ours', tags: foreignTags })
    const outcome = await applyEnvironmentNetwork(
      client,
      specOf(id, { loadBalancer: undefined, firewall: undefined }),
    )
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.failure).toMatchObject({ code: 'conflict', step: 'nsx-segment' })
    expect(outcome.failure.message).toContain(`/infra/segments/rxt-${id}-seg`)
    const destroyed = unwrap(await destroyEnvironmentNetwork(client, specOf(id).env))
    expect(destroyed.deleted.map((o) => o.id)).toEqual([`rxt-${id}-t1`])
    expect((await client.get('segment', `rxt-${id}-seg`))?.display_name).toBe('not ours')
    await client.delete('segment', `rxt-${id}-seg`)
  })

  it('an environment id with characters NSX ids lack gets ids of a readable part and a digest', async () => {
    const id = `env:${run}.a`
    const applied = unwrap(await applyEnvironmentNetwork(client, specOf(id, { firewall: undefined })))
    const segment = applied.objects.find((o) => o.kind === 'segment')
    expect(segment?.id).toMatch(new RegExp(`^rxt-env_${run}\\.a-[0-9a-f]{10}-seg$`))
    const listed = unwrap(await listEnvironmentNetwork(client, specOf(id).env))
    expect(listed).toHaveLength(6)
    unwrap(await destroyEnvironmentNetwork(client, specOf(id).env))
    expect(held(id)).toEqual([])
  })

  it('an invalid spec fails as invalid, naming every problem, before any call', async () => {
    const calls = sim.requests.length
    const outcome = await applyEnvironmentNetwork(
      client,
      specOf(`bad-${run}`, {
        segment: { gatewayCidr: '10.20.0.1', transportZonePath: 'overlay' },
        loadBalancer: { virtualIp: '10.20.0.300', ports: [0], members: [] },
      }),
    )
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.failure.code).toBe('invalid')
    expect(outcome.failure.retryable).toBe(false)
    expect(outcome.failure.step).toBe('nsx-spec')
    expect(outcome.failure.message).toContain('segment.gatewayCidr')
    expect(outcome.failure.message).toContain('segment.transportZonePath')
    expect(outcome.failure.message).toContain('loadBalancer.virtualIp')
    expect(outcome.failure.message).toContain('loadBalancer.ports')
    expect(outcome.failure.message).toContain('loadBalancer.members')
    expect(sim.requests.length).toBe(calls)
  })

  it('what NSX refuses (a Tier-0 it does not have) fails as invalid at its step, with NSX’s reason', async () => {
    const outcome = await applyEnvironmentNetwork(
      client,
      specOf(`t0-${run}`, { tier1: { tier0Path: '/infra/tier-0s/none' } }),
    )
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.failure).toMatchObject({ code: 'invalid', retryable: false, step: 'nsx-tier1' })
    expect(outcome.failure.message).toContain('/infra/tier-0s/none')
  })

  it('NSX failing for now fails as unavailable, retryable, and the same apply then succeeds', async () => {
    const id = `u-${run}`
    sim.outage.fail(503)
    const outcome = await applyEnvironmentNetwork(client, specOf(id))
    sim.outage.resume()
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.failure).toMatchObject({ code: 'unavailable', retryable: true })
    unwrap(await applyEnvironmentNetwork(client, specOf(id)))
    unwrap(await destroyEnvironmentNetwork(client, specOf(id).env))
    expect(held(id)).toEqual([])
  })
})
