// The NSX client's failures, authentication and transport, against the simulation of the NSX Policy API
// (not NSX: see nsx-sim/nsx-simulator.ts).
import { randomBytes } from 'node:crypto'
import { createLogger } from '@rxt/kit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NsxSimulator, startNsxSimulator } from '../nsx-sim/nsx-simulator.ts'
import { makeTestCertificates, type TestCertificates } from '../nsx-sim/test-certificates.ts'
import { applyEnvironmentNetwork, destroyEnvironmentNetwork } from './environment-network.ts'
import { createNsxClient, type NsxClient, type NsxClientOptions } from './nsx-client.ts'
import { codeOfStatus, NsxError, scrub } from './nsx-error.ts'

const account = { username: 'admin', password: `pw-${randomBytes(8).toString('hex')}` }
let sim: NsxSimulator
let pki: TestCertificates
const clients: NsxClient[] = []
const clientOf = (options: Partial<NsxClientOptions> = {}): NsxClient => {
  const client = createNsxClient({ url: sim.url, credentials: account, ...options })
  clients.push(client)
  return client
}

beforeAll(async () => {
  pki = makeTestCertificates()
  sim = await startNsxSimulator(account)
})
afterAll(async () => {
  for (const client of clients) await client.close()
  await sim?.close()
})

const failureOf = async (call: Promise<unknown>): Promise<NsxError> => {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof NsxError)) throw new Error(`expected an NsxError, got ${String(error)}`)
  return error
}

const run = randomBytes(3).toString('hex')

describe('the NSX client on the simulated NSX Policy API', () => {
  it('PATCH creates, then updates; GET answers _revision; a missing object reads as undefined', async () => {
    const client = clientOf()
    const id = `seg-${run}`
    await client.patch('segment', id, { display_name: id, subnets: [{ gateway_address: '10.9.0.1/24' }] })
    expect(await client.get('segment', id)).toMatchObject({ id, path: `/infra/segments/${id}`, _revision: 0 })
    await client.patch('segment', id, { description: 'changed' })
    expect(await client.get('segment', id)).toMatchObject({ description: 'changed', _revision: 1 })
    expect(await client.get('segment', `none-${run}`)).toBeUndefined()
    await client.delete('segment', id)
    await client.delete('segment', id)
    expect(await client.get('segment', id)).toBeUndefined()
  })

  it('PUT with the revision read replaces; with a stale one fails as conflict (412), not retryable', async () => {
    const client = clientOf()
    const id = `grp-${run}`
    await client.patch('group', id, { display_name: 'first' })
    const read = await client.get('group', id)
    const replaced = await client.put('group', id, { display_name: 'second', _revision: read?._revision })
    expect(replaced).toMatchObject({ display_name: 'second', _revision: 1 })
    const stale = await failureOf(client.put('group', id, { display_name: 'third', _revision: 0 }))
    expect(stale).toMatchObject({ code: 'conflict', retryable: false, status: 412 })
    expect(stale.message).toContain('modified by somebody else')
    expect((await client.get('group', id))?.display_name).toBe('second')
    await client.delete('group', id)
  })

  it('a certificate once imported is not changed by a PATCH (as the bindings document)', async () => {
    const client = clientOf()
    const id = `cert-${run}`
    await client.patch('certificate', id, {
      pem_encoded: pki.site.cert,
      private_key: pki.site.key,
      display_name: 'one',
    })
    await client.patch('certificate', id, { pem_encoded: pki.server.cert, display_name: 'two' })
    const read = await client.get('certificate', id)
    expect(read).toMatchObject({
      display_name: 'one',
      pem_encoded: pki.site.cert,
      has_private_key: true,
      _revision: 0,
    })
    expect(read).not.toHaveProperty('private_key')
    await client.delete('certificate', id)
  })

  it('a body that breaks the schema fails as invalid with each problem NSX named', async () => {
    const client = clientOf()
    const error = await failureOf(
      client.patch('lb-pool', `pool-${run}`, { members: [{ port: 8080 }], min_active_members: 0 }),
    )
    expect(error).toMatchObject({ code: 'invalid', retryable: false, status: 400 })
    expect(error.message).toContain('/members/0/ip_address')
    expect(error.message).toContain('/min_active_members')
  })

  it('an id NSX cannot take fails as invalid before any call', async () => {
    const calls = sim.requests.length
    for (const id of ['../infra', '..', '.', '', 'a b', 'x'.repeat(256)]) {
      const error = await failureOf(clientOf().delete('segment', id))
      expect(error.code, id).toBe('invalid')
    }
    expect(sim.requests.length).toBe(calls)
  })

  it('wrong credentials fail as rejected, with the user named and the password not', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`
    for (const auth of ['basic', 'session'] as const) {
      const error = await failureOf(
        clientOf({ auth, credentials: { username: 'admin', password: wrong } }).get('segment', 'x'),
      )
      expect(error.code).toBe('rejected')
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain(wrong)
    }
  })

  it('a session is opened once, and again when NSX has ended it', async () => {
    const client = clientOf({ auth: 'session' })
    const signIns = () => sim.requests.filter((r) => r.url === '/api/session/create').length
    const before = signIns()
    await client.get('segment', 'x')
    await client.get('segment', 'y')
    expect(signIns()).toBe(before + 1)
    sim.expireSessions()
    await client.patch('segment', `sess-${run}`, { display_name: 'kept' })
    expect(signIns()).toBe(before + 2)
    expect((await client.get('segment', `sess-${run}`))?.display_name).toBe('kept')
    await client.delete('segment', `sess-${run}`)
    const open = sim.sessionCount()
    await client.close()
    expect(sim.sessionCount()).toBe(open - 1)
  })

  it('NSX answering 503 fails as unavailable and retryable, and the call works once it is back', async () => {
    const client = clientOf()
    sim.outage.fail(503)
    const error = await failureOf(client.get('segment', 'x'))
    sim.outage.resume()
    expect(error).toMatchObject({ code: 'unavailable', retryable: true, status: 503 })
    expect(await client.get('segment', 'x')).toBeUndefined()
  })

  it('NSX not answering in time fails as timeout, retryable', async () => {
    const client = clientOf({ timeoutMs: 200 })
    sim.outage.pause()
    const error = await failureOf(client.get('segment', 'x'))
    sim.outage.resume()
    expect(error).toMatchObject({ code: 'timeout', retryable: true })
    expect(error.message).toContain('read before retrying')
  })

  it('NSX down (nothing listening) fails as unavailable, retryable', async () => {
    const gone = await startNsxSimulator(account)
    const url = gone.url
    await gone.close()
    const client = clientOf({ url })
    const error = await failureOf(client.search('resource_type:Segment'))
    expect(error).toMatchObject({ code: 'unavailable', retryable: true })
    expect(error.message).toContain('ECONNREFUSED')
  })

  it('HTTPS: a certificate signed by the CA given is trusted; without the CA the call is rejected', async () => {
    const secure = await startNsxSimulator({ ...account, tls: pki.server })
    try {
      const trusted = clientOf({ url: secure.url, ca: pki.ca })
      expect(await trusted.get('segment', 'x')).toBeUndefined()
      const untrusting = clientOf({ url: secure.url })
      const error = await failureOf(untrusting.get('segment', 'x'))
      expect(error.code).toBe('rejected')
      expect(error.message).toContain('give the client the CA')
    } finally {
      await secure.close()
    }
  })

  it('search follows the cursor over pages', async () => {
    const client = clientOf()
    for (let i = 0; i < 3; i++)
      await client.patch('segment', `page-${run}-${i}`, { tags: [{ scope: 'page', tag: run }] })
    const found = await client.search(`tags.scope:page AND tags.tag:${run}`)
    expect(found.map((o) => o.id).sort()).toEqual([0, 1, 2].map((i) => `page-${run}-${i}`))
    for (let i = 0; i < 3; i++) await client.delete('segment', `page-${run}-${i}`)
  })
})

describe('the failure code of an HTTP status NSX answers', () => {
  it.each([
    [400, 'invalid'],
    [422, 'invalid'],
    [404, 'not-found'],
    [409, 'conflict'],
    [412, 'conflict'],
    [401, 'rejected'],
    [403, 'rejected'],
    [408, 'timeout'],
    [429, 'unavailable'],
    [500, 'unavailable'],
    [502, 'unavailable'],
    [503, 'unavailable'],
  ] as const)('%i is %s', (status, code) => {
    expect(codeOfStatus(status)).toBe(code)
  })
})

describe('secrets and the NSX client', () => {
  it('scrub removes a whole secret and each line of a PEM key', () => {
    const key =
      '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\nAwEHBG0wawIBAQQg9dmXJZbVtlXG\n-----END PRIVATE KEY-----'
    const said = `bad key MIGHAgEAMBMGByqGSM49AgEGCCqGSM49 and ${key} and hunter2-password`
    const out = scrub(said, [key, 'hunter2-password'])
    expect(out).not.toContain('MIGHAgEAMBMGByqGSM49AgEGCCqGSM49')
    expect(out).not.toContain('AwEHBG0wawIBAQQg9dmXJZbVtlXG')
    expect(out).not.toContain('hunter2-password')
    expect(out).toContain('[redacted]')
  })

  it('the simulation answers a body that is not JSON with an ApiError that does not quote it', async () => {
    const keyLine = pki.site.key.split('\n')[1] as string
    const response = await fetch(`${sim.url}/policy/api/v1/infra/certificates/broken`, {
      method: 'PATCH',
      headers: {
        authorization: `Basic ${Buffer.from(`admin:${account.password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: `{"pem_encoded": "x", "private_key": "${keyLine}`,
    })
    expect(response.status).toBe(400)
    expect(response.headers.get('x-rxt-simulation')).toBe('a simulation of the NSX Policy API, not NSX')
    const body = (await response.json()) as { httpStatus: string; error_message: string }
    expect(body.httpStatus).toBe('BAD_REQUEST')
    expect(body.error_message).not.toContain(keyLine.slice(0, 16))
  })

  it('no password, private key or passphrase appears in any log line or error of a journey', async () => {
    const lines: string[] = []
    const log = createLogger({ level: 'trace', destination: { write: (line: string) => lines.push(line) } })
    const passphrase = `pass-${randomBytes(8).toString('hex')}`
    const errors: string[] = []
    const env = { tenantId: 't-canary', projectId: 'p-canary', envId: `c-${run}` }
    const spec = {
      env,
      tier1: { tier0Path: '/infra/tier-0s/sim-t0' },
      segment: { gatewayCidr: '10.30.0.1/24' },
      loadBalancer: {
        virtualIp: '10.30.0.10',
        ports: [443],
        members: [{ ip: '10.30.0.21', port: 8443 }],
        tls: { certificatePem: pki.site.cert, privateKeyPem: pki.site.key, passphrase },
      },
    }
    for (const auth of ['basic', 'session'] as const) {
      const client = clientOf({ auth, log })
      const applied = await applyEnvironmentNetwork(client, spec)
      expect(applied.ok).toBe(true)
      // A key NSX refuses (not PEM), a refused account, an outage: the ways a call with secrets fails.
      const badKey = await failureOf(
        client.patch('certificate', `bad-${run}`, {
          pem_encoded: pki.site.cert,
          private_key: `not a key ${account.password} ${pki.site.key.split('\n')[1]}`,
          passphrase,
        }),
      )
      errors.push(badKey.message)
      const refused = await failureOf(
        clientOf({ auth, log, credentials: { username: 'admin', password: `${account.password}-x` } }).get(
          'segment',
          'x',
        ),
      )
      errors.push(refused.message)
      sim.outage.fail(503)
      const outage = await applyEnvironmentNetwork(client, spec)
      sim.outage.resume()
      if (!outage.ok) errors.push(outage.failure.message)
      const destroyed = await destroyEnvironmentNetwork(client, env)
      expect(destroyed.ok).toBe(true)
    }
    expect(lines.length).toBeGreaterThan(10)
    expect(errors).toHaveLength(6)
    const keyLines = pki.site.key.split('\n').filter((l) => l.length >= 12 && !l.startsWith('-----'))
    const secrets = [account.password, `${account.password}-x`, passphrase, ...keyLines]
    for (const text of [...lines, ...errors])
      for (const secret of secrets) {
        expect(text).not.toContain(secret)
        expect(text).not.toContain(Buffer.from(`admin:${secret}`).toString('base64'))
      }
  })
})
