// The same environment journey against a real NSX Manager, where one is given (the simulation cannot
// tell whether NSX behaves as it does: ADR 0029 lists what to check). Set
//   RXT_TEST_NSX_URL       https://nsx.example.com
//   RXT_TEST_NSX_USER      an account that may write under /infra (a network admin)
//   RXT_TEST_NSX_PASSWORD  its password
//   RXT_TEST_NSX_CA        a file with the CA of the Manager's certificate (optional)
//   RXT_TEST_NSX_TIER0     the path of a Tier-0 to connect the Tier-1 to (optional)
// Without RXT_TEST_NSX_URL the test says SKIPPED. It makes and deletes objects named rxt-nsxcheck-*.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { until } from '@rxt/kit/testing/bus'
import { afterAll, describe, expect, it } from 'vitest'
import { makeTestCertificates } from '../nsx-sim/test-certificates.ts'
import {
  applyEnvironmentNetwork,
  destroyEnvironmentNetwork,
  type EnvironmentNetworkSpec,
  listEnvironmentNetwork,
} from './environment-network.ts'
import { createNsxClient, type NsxClient } from './nsx-client.ts'

const url = process.env.RXT_TEST_NSX_URL
if (url === undefined)
  process.stdout.write(
    'SKIPPED the NSX Manager journey: no NSX Manager given (RXT_TEST_NSX_URL and its account)\n',
  )

describe.skipIf(url === undefined)('an environment network on a real NSX Manager', () => {
  const caFile = process.env.RXT_TEST_NSX_CA
  const tier0 = process.env.RXT_TEST_NSX_TIER0
  let client: NsxClient | undefined
  const nsx = (): NsxClient => {
    client ??= createNsxClient({
      url: url as string,
      credentials: {
        username: process.env.RXT_TEST_NSX_USER ?? '',
        password: process.env.RXT_TEST_NSX_PASSWORD ?? '',
      },
      auth: 'session',
      ...(caFile === undefined ? {} : { ca: readFileSync(caFile, 'utf8') }),
    })
    return client
  }
  const env = {
    tenantId: 'rxt-nsxcheck',
    projectId: 'rxt-nsxcheck',
    envId: `nsxcheck-${randomBytes(3).toString('hex')}`,
  }
  afterAll(async () => {
    if (client === undefined) return
    await destroyEnvironmentNetwork(client, env)
    await client.close()
  })

  it('applies, applies again with no change, lists by tags and destroys to nothing', async () => {
    const site = makeTestCertificates().site
    const spec: EnvironmentNetworkSpec = {
      env,
      tier1: tier0 === undefined ? {} : { tier0Path: tier0 },
      segment: { gatewayCidr: '10.250.0.1/24' },
      loadBalancer: {
        virtualIp: '10.250.0.10',
        ports: [443],
        members: [{ ip: '10.250.0.21', port: 8080 }],
        tls: { certificatePem: site.cert, privateKeyPem: site.key },
      },
      firewall: {
        rules: [{ name: 'allow-https', action: 'ALLOW', from: 'any', services: ['/infra/services/HTTPS'] }],
      },
    }
    const first = await applyEnvironmentNetwork(nsx(), spec)
    expect(first.ok ? 'ok' : first.failure.message).toBe('ok')
    const second = await applyEnvironmentNetwork(nsx(), spec)
    expect(second.ok ? second.value.changed : second.failure.message).toEqual([])
    // The search index follows writes after a while.
    await until(
      async () => {
        const listed = await listEnvironmentNetwork(nsx(), env)
        return listed.ok && listed.value.length === 8
      },
      120_000,
      'the search to find the 8 objects',
    )
    const destroyed = await destroyEnvironmentNetwork(nsx(), env)
    expect(destroyed.ok ? 'ok' : destroyed.failure.message).toBe('ok')
    await until(
      async () => {
        const listed = await listEnvironmentNetwork(nsx(), env)
        return listed.ok && listed.value.length === 0
      },
      120_000,
      'the search to find none',
    )
  }, 600_000)
})
