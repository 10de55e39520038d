import { describe, expect, it } from 'vitest'
import { at, deploy, ofKind, rxtSpot, sddcFlex } from './fixtures/load.ts'
import { type Translation, translate } from './translate.ts'

/** What network.visibility exposes: the LoadBalancer only the tcp ports, the Ingress only public apps. */

const target = { tenantId: 'tnt-acme', projectId: 'prj-shop', envId: 'env-01', environment: 'production' }
const kinds = (t: Translation) => t.objects.map((o) => o.kind)
const policy = (t: Translation, name: string) =>
  ofKind(t, 'NetworkPolicy').find((p) => at(p, 'metadata', 'name') === name)
const portsOf = (service: unknown) => (at(service, 'spec', 'ports') as { port: number }[]).map((p) => p.port)

/** Every protocol at once: http, grpc, websocket, and two tcp ports. */
const app = (visibility: 'public' | 'private', hostnames = '[shop.example.com]') =>
  deploy(`image: ghcr.io/acme/shop:1
ports:
  - { name: http, port: 8080, protocol: http }
  - { name: api, port: 9090, protocol: grpc }
  - { name: live, port: 8081, protocol: websocket }
  - { name: mqtt, port: 1883, protocol: tcp }
  - { name: db, port: 5432, protocol: tcp }
network: { visibility: ${visibility}, hostnames: ${hostnames}, tls: required }`)

describe('public: the LoadBalancer carries only the tcp ports', () => {
  const t = translate(app('public'), rxtSpot(), target)

  it('a separate LoadBalancer Service with only the tcp ports; the ClusterIP Service keeps them all', () => {
    const services = ofKind(t, 'Service')
    const balanced = services.filter((s) => at(s, 'spec', 'type') === 'LoadBalancer')
    expect(balanced).toHaveLength(1)
    expect(at(balanced[0], 'metadata', 'name')).toBe('shop-lb')
    expect(portsOf(balanced[0])).toEqual([1883, 5432])
    expect(at(balanced[0], 'spec', 'ports', 0)).not.toHaveProperty('appProtocol')
    const cluster = services.find((s) => at(s, 'metadata', 'name') === 'shop')
    expect(at(cluster, 'spec', 'type')).toBe('ClusterIP')
    expect(portsOf(cluster)).toEqual([8080, 9090, 8081, 1883, 5432])
    expect(kinds(t)).toContain('Ingress')
    expect(t.summary).toContain(
      'Service shop-lb (LoadBalancer): mqtt 1883/tcp, db 5432/tcp; public: a NetworkPolicy admits any address to these ports only',
    )
  })

  it('the policy admitting the load balancer names exactly the tcp ports', () => {
    expect(at(policy(t, 'allow-load-balancer'), 'spec', 'ingress')).toEqual([
      {
        from: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
        ports: [
          { protocol: 'TCP', port: 1883 },
          { protocol: 'TCP', port: 5432 },
        ],
      },
    ])
    // The ingress controller reaches the one port the Ingress routes
    expect(at(policy(t, 'allow-ingress-controller'), 'spec', 'ingress', 0, 'ports')).toEqual([
      { protocol: 'TCP', port: 8080 },
    ])
  })

  it('a public app without tcp ports gets no LoadBalancer and no policy for one', () => {
    const web = deploy(
      'image: ghcr.io/acme/shop:1\nports: [{ name: http, port: 8080, protocol: http }]\nnetwork: { visibility: public, hostnames: [shop.example.com] }',
    )
    const u = translate(web, rxtSpot(), target)
    expect(ofKind(u, 'Service').map((s) => at(s, 'spec', 'type'))).toEqual(['ClusterIP'])
    expect(policy(u, 'allow-load-balancer')).toBeUndefined()
  })
})

describe('private: reachable inside the platform only', () => {
  it('Kubernetes: no Ingress, certificate, LoadBalancer or ingress-controller policy; the summary says so', () => {
    const t = translate(app('private'), rxtSpot(), target)
    expect(kinds(t)).not.toContain('Ingress')
    expect(kinds(t)).not.toContain('Certificate')
    expect(ofKind(t, 'Service').map((s) => at(s, 'spec', 'type'))).toEqual(['ClusterIP'])
    expect(ofKind(t, 'NetworkPolicy').map((p) => at(p, 'metadata', 'name'))).toEqual([
      'default-deny',
      'allow-same-namespace',
      'allow-dns',
    ])
    expect(t.summary).toContain(
      'No Ingress: network.visibility is private, so shop is reachable inside the cluster only, at shop.shop-production-f44debbd.svc; network.hostnames shop.example.com are not published',
    )
  })

  it('VMs: the NSX load balancer is internal, with no public virtual server', () => {
    const t = translate(app('private'), sddcFlex(), target)
    const [lb] = ofKind(t, 'NsxLoadBalancer')
    expect(lb).toMatchObject({ visibility: 'private', internal: true })
    const servers = at(lb, 'virtualServers') as { vip: string }[]
    expect(servers).toHaveLength(5)
    expect(servers.map((s) => s.vip)).toEqual(Array(5).fill('internal'))
    expect(t.summary.find((line) => line.startsWith('NsxLoadBalancer'))).toContain(
      '(private: internal virtual IPs on the segment only, no public virtual server)',
    )
    // Public: every virtual server has a public virtual IP
    const [publicLb] = ofKind(translate(app('public'), sddcFlex(), target), 'NsxLoadBalancer')
    expect(publicLb).toMatchObject({ internal: false })
    expect((at(publicLb, 'virtualServers') as { vip: string }[]).map((s) => s.vip)).toEqual(
      Array(5).fill('public'),
    )
  })
})
