import { createHash } from 'node:crypto'
import {
  platformName,
  portName,
  secretKeyRef,
  secretName,
  serviceName,
  workloadName,
} from '@rxt/platform-sdk'
import { describe, expect, it } from 'vitest'
import { at, deploy, ofKind, rxtSpot, sddcFlex } from './fixtures/load.ts'
import { type Translation, translate } from './translate.ts'

/** Names the platforms accept, and that never collide across tenants, secrets or ports. */

const target = { tenantId: 'tnt-acme', projectId: 'prj-shop', envId: 'env-01', environment: 'production' }
const sha8 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8)
const names = (t: Translation, kind: string) => ofKind(t, kind).map((o) => at(o, 'metadata', 'name'))

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const dns1035 = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/
const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/
/** IANA_SVC_NAME, as Kubernetes checks container port names. */
const ianaName = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/

describe('platform names: unique per tenant and environment', () => {
  const shop = deploy('image: ghcr.io/acme/shop:1\nports: [{ name: http, port: 8080, protocol: http }]')
  const other = { ...target, tenantId: 'tnt-globex' }

  it('two tenants deploying shop to production get different namespaces', () => {
    const [a, b] = [target, other].map((t) => names(translate(shop, rxtSpot(), t), 'Namespace')[0])
    expect(a).toBe(`shop-production-${sha8('tnt-acme/env-01')}`)
    expect(b).toBe(`shop-production-${sha8('tnt-globex/env-01')}`)
    expect(a).not.toBe(b)
    // Same input, same name
    expect(names(translate(shop, rxtSpot(), { ...target }), 'Namespace')[0]).toBe(a)
  })

  it('and share no VM folder, segment, load balancer, firewall rule or VM name', () => {
    const [a, b] = [target, other].map(
      (t) => new Set(translate(shop, sddcFlex(), t).objects.map((o) => String(o.name))),
    )
    expect([...(a ?? [])].filter((name) => b?.has(name))).toEqual([])
  })

  it('stays a DNS label of at most 63 characters, the suffix kept, however long the names', () => {
    const name = platformName('a'.repeat(63), 'b'.repeat(63), 'tnt-acme', 'env-01')
    expect(name).toMatch(dnsLabel)
    expect(name.endsWith(`-${sha8('tnt-acme/env-01')}`)).toBe(true)
    expect(platformName('shop', 'production', 'tnt-acme', 'env-01')).toBe(
      platformName('shop', 'production', 'tnt-acme', 'env-01'),
    )
  })
})

describe('secret names', () => {
  it('secret://a/b, secret://a.b and secret://a-b are three different Secrets', () => {
    const refs = ['secret://a/b', 'secret://a.b', 'secret://a-b'].map(secretKeyRef)
    expect(new Set(refs.map((r) => r.name)).size).toBe(3)
    for (const ref of refs) {
      expect(ref.key).toBe('value')
      expect(ref.name).toMatch(dnsSubdomain)
    }
    expect(secretKeyRef('secret://a/b').name).toBe(`rxt-secret-a-b-${sha8('secret://a/b')}`)
  })

  it('stay a DNS subdomain of at most 253 characters for the longest reference', () => {
    const long = `secret://${'x/'.repeat(123)}y`
    expect(long.length).toBeLessThanOrEqual(256)
    expect(secretName(long)).toMatch(dnsSubdomain)
    expect(secretName(long)).not.toBe(secretName(`${long.slice(0, -1)}z`))
  })
})

describe('names the Kubernetes API server accepts', () => {
  it('Service names start with a letter even when the app does not (2048-game)', () => {
    const game = deploy(
      `image: ghcr.io/acme/game:1
stateful: true
ports: [{ name: web, port: 8080, protocol: http }, { name: raw, port: 7000, protocol: tcp }]
network: { visibility: public, hostnames: [play.example.com], tls: required }`,
      '2048-game',
    )
    const t = translate(game, rxtSpot(), target)
    const services = names(t, 'Service')
    expect(services).toEqual(['app-2048-game', 'app-2048-game-headless', 'app-2048-game-lb'])
    for (const name of services) expect(name).toMatch(dns1035)
    expect(at(ofKind(t, 'StatefulSet')[0], 'spec', 'serviceName')).toBe('app-2048-game-headless')
    expect(at(ofKind(t, 'Ingress')[0], 'spec', 'rules', 0, 'http', 'paths', 0, 'backend', 'service')).toEqual(
      {
        name: 'app-2048-game',
        port: { name: 'web' },
      },
    )
    expect(serviceName('a'.repeat(63))).toBe('a'.repeat(63))
    expect(serviceName(`9${'a'.repeat(62)}`)).toMatch(dns1035)
  })

  it('container port names are valid, distinct, and the Service, Ingress and probes refer to them alike', () => {
    const m = deploy(`image: ghcr.io/acme/a:1
ports:
  - { name: public-web-frontend, port: 8080, protocol: http }
  - { name: public-web-frontend-2, port: 8081, protocol: http }
  - { name: "9090", port: 9090, protocol: tcp }
  - { name: a--b, port: 9091, protocol: tcp }
  - { name: web, port: 80, protocol: http }
healthChecks:
  readiness: { path: /healthz, port: public-web-frontend }
network: { visibility: public, hostnames: [a.example.com], tls: required }`)
    const t = translate(m, rxtSpot(), target)
    const container = at(ofKind(t, 'Deployment')[0], 'spec', 'template', 'spec', 'containers', 0)
    const ports = at(container, 'ports') as { name: string; containerPort: number }[]
    const derived = ports.map((p) => p.name)
    for (const name of derived) expect(name).toMatch(ianaName)
    expect(new Set(derived).size).toBe(derived.length)
    expect(derived[4]).toBe('web')
    expect(derived).toEqual(
      ['public-web-frontend', 'public-web-frontend-2', '9090', 'a--b', 'web'].map(portName),
    )
    const service = ofKind(t, 'Service')[0]
    expect(at(service, 'spec', 'ports')).toMatchObject(
      ports.map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.name })),
    )
    expect(at(ofKind(t, 'Ingress')[0], 'spec', 'rules', 0, 'http', 'paths', 0, 'backend', 'service')).toEqual(
      {
        name: 'shop',
        port: { name: derived[0] },
      },
    )
    expect(at(container, 'readinessProbe', 'httpGet', 'port')).toBe(derived[0])
    const lb = ofKind(t, 'Service').find((s) => at(s, 'spec', 'type') === 'LoadBalancer')
    expect((at(lb, 'spec', 'ports') as { targetPort: string }[]).map((p) => p.targetPort)).toEqual([
      derived[2],
      derived[3],
    ])
  })

  it('workload names are at most 52 characters, distinct when shortened, and the HPA targets them', () => {
    const app = (last: string) =>
      deploy(
        `image: ghcr.io/acme/a:1\nstateful: true\nautoscaling: { minReplicas: 1, maxReplicas: 3 }`,
        `${'c'.repeat(62)}${last}`,
      )
    const [one, two] = ['x', 'y'].map((last) => translate(app(last), rxtSpot(), target))
    const set = ofKind(one as Translation, 'StatefulSet')[0]
    const name = String(at(set, 'metadata', 'name'))
    expect(name.length).toBeLessThanOrEqual(52)
    expect(name).toMatch(dnsLabel)
    expect(
      at(ofKind(one as Translation, 'HorizontalPodAutoscaler')[0], 'spec', 'scaleTargetRef', 'name'),
    ).toBe(name)
    expect(at(ofKind(two as Translation, 'StatefulSet')[0], 'metadata', 'name')).not.toBe(name)
    expect(workloadName('shop')).toBe('shop')
  })
})
