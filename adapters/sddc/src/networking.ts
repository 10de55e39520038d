// An environment's networking on NSX, for the SDDC Flex platform: its own Tier-1 gateway with the
// environment's segment behind it, a load balancer whose virtual IP comes from the operator's range,
// TLS with a certificate from the operator's issuer (Vault's PKI), and a distributed firewall policy:
// deny by default, then the load balancer and the segment itself.
import { createHash } from 'node:crypto'
import { FailureCode, failed, failure, type ResourceRef, succeeded } from '@rxt/platform-sdk'
import {
  applyEnvironmentNetwork,
  destroyEnvironmentNetwork,
  type EnvironmentNetworkSpec,
  listEnvironmentNetwork,
  type NsxClient,
  NsxError,
} from './nsx/index.ts'
import type { SddcNetworking } from './sddc-platform.ts'

/** A certificate for a set of hostnames, and when it expires. */
export interface IssuedCertificate {
  readonly certificatePem: string
  readonly privateKeyPem: string
  readonly expiresAt: string
}

/** Where the certificates of environments' load balancers come from. */
export interface CertificateIssuer {
  /** For people: `vault pki (pki/issue/rxt-deploy)`. */
  readonly name: string
  issue(hostnames: readonly string[]): Promise<IssuedCertificate>
}

/**
 * Vault's PKI secrets engine as the issuer: `POST <mount>/issue/<role>` for the hostnames, the
 * certificate's key never kept by the adapter beyond its import into NSX.
 */
export function createVaultPkiIssuer(options: {
  readonly addr: string
  readonly token: string
  readonly mount: string
  readonly role: string
  readonly ttl?: string
}): CertificateIssuer {
  return {
    name: `vault pki (${options.mount}/issue/${options.role})`,
    async issue(hostnames) {
      const [commonName, ...alt] = hostnames
      const response = await fetch(`${options.addr}/v1/${options.mount}/issue/${options.role}`, {
        method: 'POST',
        headers: { 'x-vault-token': options.token, 'content-type': 'application/json' },
        body: JSON.stringify({
          common_name: commonName,
          alt_names: alt.join(','),
          ttl: options.ttl ?? '2160h',
        }),
        signal: AbortSignal.timeout(30_000),
      }).catch((error: Error) => {
        throw new NsxError('unavailable', `Vault cannot be reached to issue a certificate (${error.message})`)
      })
      const body = (await response.json().catch(() => ({}))) as {
        data?: { certificate?: string; private_key?: string; expiration?: number; issuing_ca?: string }
        errors?: string[]
      }
      if (!response.ok || body.data?.certificate === undefined || body.data.private_key === undefined)
        throw new NsxError(
          response.status >= 500 ? 'unavailable' : 'rejected',
          `Vault did not issue a certificate for ${hostnames.join(', ')}: ${(body.errors ?? [`HTTP ${response.status}`]).join('; ')}`,
        )
      return {
        certificatePem: `${body.data.certificate.trim()}\n${(body.data.issuing_ca ?? '').trim()}\n`,
        privateKeyPem: body.data.private_key,
        expiresAt: new Date((body.data.expiration ?? 0) * 1000).toISOString(),
      }
    },
  }
}

export interface NsxNetworkingOptions {
  readonly client: NsxClient
  /** The Tier-0 gateway each environment's Tier-1 connects to. */
  readonly tier0Path?: string
  /**
   * The gateway of every environment's segment, as `10.64.0.1/24`: each environment has its own Tier-1,
   * so their segments may share the range; only virtual IPs are seen outside.
   */
  readonly segmentGateway: string
  /** Where virtual IPs come from, as `10.96.0.0/16`. */
  readonly vipRange: string
  readonly issuer: CertificateIssuer | undefined
}

const toNumber = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
const toIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')

/** The address of host `host` (1-based) of the segment whose gateway is `gateway` (`10.64.0.1/24`). */
export function segmentAddress(gateway: string, host: number): string {
  const [ip = '', bits = '24'] = gateway.split('/')
  const size = 2 ** (32 - Number(bits))
  const network = toNumber(ip) - (toNumber(ip) % size)
  if (host < 1 || host >= size - 1) throw new RangeError(`host ${host} is outside ${gateway}`)
  return toIp(network + host)
}

/**
 * The environment's virtual IP: a place in the range fixed by its id, moved on past the addresses other
 * environments' virtual servers hold (NSX's search is the record of what is taken).
 */
async function vipFor(client: NsxClient, range: string, envId: string): Promise<string> {
  const [ip = '', bits = '16'] = range.split('/')
  const size = 2 ** (32 - Number(bits))
  const base = toNumber(ip) - (toNumber(ip) % size)
  const taken = new Map<string, string>()
  for (const vs of await client.search('resource_type:LBVirtualServer'))
    if (typeof vs.ip_address === 'string') taken.set(vs.ip_address, String(vs.id ?? ''))
  const start = createHash('sha256').update(envId).digest().readUInt32BE(0) % (size - 2)
  for (let i = 0; i < size - 2; i++) {
    const candidate = toIp(base + 1 + ((start + i) % (size - 2)))
    const holder = taken.get(candidate)
    if (holder === undefined || holder === `rxt-${envId}-vs`) return candidate
  }
  throw new NsxError('rejected', `no virtual IP is free in ${range}`)
}

export function createNsxNetworking(options: NsxNetworkingOptions): SddcNetworking {
  const { client } = options
  const refsOf = (objects: readonly { kind: string; id: string }[]): ResourceRef[] =>
    objects.map((o) => ({
      kind: `Nsx${o.kind
        .split('-')
        .map((w) => `${w[0]?.toUpperCase() ?? ''}${w.slice(1)}`)
        .join('')}`,
      id: o.id,
    }))
  return {
    async configure(scope, spec, hostnames, members): ReturnType<SddcNetworking['configure']> {
      const env = { tenantId: scope.tenantId, projectId: scope.projectId, envId: scope.envId }
      try {
        const web = spec.protocol !== 'tcp'
        const tls = web && spec.tls !== 'off'
        if (tls && spec.certificateRef !== undefined)
          return failed(
            failure(
              FailureCode.rejected,
              'sddc-flex does not take a tenant certificate (certificateRef) yet: leave it out to have one issued',
            ),
          )
        if (tls && options.issuer === undefined)
          return failed(
            failure(
              FailureCode.rejected,
              'sddc-flex has no certificate issuer configured (SDDC_TLS_VAULT_*): TLS cannot be offered',
            ),
          )
        const issued = tls ? await options.issuer?.issue(hostnames) : undefined
        const ports = web ? (tls ? [443] : [80]) : [spec.port]
        const networkSpec: EnvironmentNetworkSpec = {
          env,
          tier1: options.tier0Path === undefined ? {} : { tier0Path: options.tier0Path },
          segment: { gatewayCidr: options.segmentGateway },
          loadBalancer:
            members.length === 0
              ? undefined
              : {
                  virtualIp: await vipFor(client, options.vipRange, env.envId),
                  ports,
                  members: members.map((m) => ({ ip: m.ip, port: spec.port })),
                  ...(issued === undefined
                    ? {}
                    : {
                        tls: { certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem },
                      }),
                },
          firewall: {
            rules: [{ name: 'allow-segment', action: 'ALLOW', from: 'any', services: 'any' }],
          },
        }
        const applied = await applyEnvironmentNetwork(client, networkSpec)
        if (!applied.ok) return applied
        return succeeded({
          vip: networkSpec.loadBalancer?.virtualIp ?? null,
          tls:
            issued === undefined
              ? null
              : { issuer: options.issuer?.name ?? 'unknown', expiresAt: issued.expiresAt },
          resources: refsOf(applied.value.objects),
        })
      } catch (error) {
        if (error instanceof NsxError) return failed(error.toFailure('nsx'))
        throw error
      }
    },
    async destroy({ tenantId, projectId, envId }) {
      const env = { tenantId, projectId, envId }
      const done = await destroyEnvironmentNetwork(client, env)
      if (!done.ok) throw new NsxError(done.failure.code, done.failure.message)
    },
    async leftovers({ tenantId, projectId, envId }) {
      const env = { tenantId, projectId, envId }
      const listed = await listEnvironmentNetwork(client, env)
      if (!listed.ok) throw new NsxError(listed.failure.code, listed.failure.message)
      return listed.value.length
    },
  }
}
