import { createHash } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { failed, failure, type Outcome, succeeded } from '@rxt/platform-sdk'
import { belongsTo, type EnvironmentRef, environmentQuery, environmentTags } from './environment-tags.ts'
import type { NsxClient, NsxObject } from './nsx-client.ts'
import { NsxError } from './nsx-error.ts'
import {
  deleteOrder,
  type Group,
  kindOfResourceType,
  kinds,
  type LBPool,
  type LBService,
  type LBVirtualServer,
  NsxKind,
  patchSemantics,
  type SecurityPolicy,
  type Segment,
  type Tag,
  type Tier1,
  type TlsTrustData,
} from './wire.ts'

/** NSX's default HTTP application profile and balanced client SSL profile (present on every Manager). */
export const defaultHttpProfilePath = '/infra/lb-app-profiles/default-http-lb-app-profile'
export const defaultClientSslProfilePath = '/infra/lb-client-ssl-profiles/default-balanced-client-ssl-profile'

export interface LoadBalancerSpec {
  /** The virtual IP clients connect to. */
  readonly virtualIp: string
  readonly ports: readonly number[]
  readonly members: readonly { readonly ip: string; readonly port: number }[]
  /** SMALL when not given. */
  readonly size?: 'SMALL' | 'MEDIUM' | 'LARGE' | 'XLARGE'
  readonly applicationProfilePath?: string
  /** TLS ends at the virtual server with this certificate, imported into NSX. */
  readonly tls?: {
    readonly certificatePem: string
    readonly privateKeyPem: string
    readonly passphrase?: string
    readonly clientSslProfilePath?: string
  }
}

export interface FirewallRuleSpec {
  /** The rule's id within the policy (letters, digits, "_" and "-"). */
  readonly name: string
  readonly action: 'ALLOW' | 'DROP' | 'REJECT'
  /** Group paths the traffic comes from, or "any". */
  readonly from: 'any' | readonly string[]
  /** Service paths (as "/infra/services/HTTPS"), or "any". */
  readonly services: 'any' | readonly string[]
}

export interface EnvironmentNetworkSpec {
  readonly env: EnvironmentRef
  /**
   * The Tier-1 gateway the segment and the load balancer attach to: one of the environment's own
   * (connected to `tier0Path` when given), or an existing one's path.
   */
  readonly tier1?: { readonly tier0Path?: string } | { readonly existingPath: string }
  readonly segment: {
    /** The segment's gateway address with its prefix length, as "10.20.0.1/24". */
    readonly gatewayCidr: string
    readonly transportZonePath?: string
  }
  readonly loadBalancer?: LoadBalancerSpec
  readonly firewall?: { readonly rules: readonly FirewallRuleSpec[] }
}

/** One object of an environment's network as NSX has it. */
export interface NetworkObject {
  readonly kind: NsxKind
  readonly id: string
  readonly path: string
  readonly revision: number | undefined
}

export interface AppliedNetwork {
  /** Every object the spec wants, in the order they were applied. */
  readonly objects: readonly NetworkObject[]
  /** The ids written by this apply (none when NSX already had what the spec wants). */
  readonly changed: readonly string[]
  /** The ids of the environment's objects the spec no longer wants, deleted. */
  readonly removed: readonly string[]
}

interface Desired {
  readonly kind: NsxKind
  readonly id: string
  readonly body: Record<string, unknown>
}

const namePattern = /^[A-Za-z0-9_-]{1,64}$/
/** The control plane's ids (contracts' idField). */
const controlPlaneId = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/**
 * The part of an NSX id that names the environment: its id where NSX takes it as it is (letters,
 * digits, ".", "_", "-", at most 100), else a readable prefix and a digest of the whole.
 */
export function envIdPart(envId: string): string {
  if (/^[A-Za-z0-9_.-]{1,100}$/.test(envId)) return envId
  const readable = envId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)
  return `${readable}-${createHash('sha256').update(envId).digest('hex').slice(0, 10)}`
}
const policyPathPattern = /^\/(infra|global-infra|orgs)\/[A-Za-z0-9_./-]+$/

/** The path NSX gives an object of `kind` with `id` (its collection's path and the id). */
export const pathOf = (kind: NsxKind, id: string): string => `${kinds[kind].collection}/${id}`

/** The ids of an environment's objects: fixed per environment, so that an apply is idempotent. */
export const environmentIds = (envId: string) => {
  const part = envIdPart(envId)
  return {
    tier1: `rxt-${part}-t1`,
    segment: `rxt-${part}-seg`,
    lbService: `rxt-${part}-lbs`,
    lbPool: `rxt-${part}-pool`,
    lbVirtualServer: `rxt-${part}-vs`,
    group: `rxt-${part}-grp`,
    securityPolicy: `rxt-${part}-fw`,
    /** A certificate's id names its content: NSX does not change an imported certificate in place. */
    certificate: (pem: string) =>
      `rxt-${part}-cert-${createHash('sha256').update(pem.trim()).digest('hex').slice(0, 12)}`,
  } as const
}

/** Every problem of the spec, as "field: what is wrong" (empty when it is valid). */
export function specProblems(spec: EnvironmentNetworkSpec): string[] {
  const problems: string[] = []
  for (const [field, value] of Object.entries(spec.env))
    if (!controlPlaneId.test(value))
      problems.push(`env.${field}: "${value.slice(0, 140)}" is not an id of the control plane`)
  const [address, prefix, ...rest] = spec.segment.gatewayCidr.split('/')
  const length = Number(prefix)
  if (rest.length > 0 || !isIPv4(address ?? '') || !Number.isInteger(length) || length < 1 || length > 30)
    problems.push(
      `segment.gatewayCidr: "${spec.segment.gatewayCidr}" is not an IPv4 address with a prefix of 1-30`,
    )
  if (spec.tier1 !== undefined) {
    const path = 'existingPath' in spec.tier1 ? spec.tier1.existingPath : spec.tier1.tier0Path
    if (path !== undefined && !policyPathPattern.test(path))
      problems.push(`tier1: "${path}" is not a Policy path (as "/infra/tier-1s/t1")`)
  }
  const paths: [string, string | undefined][] = [
    ['segment.transportZonePath', spec.segment.transportZonePath],
    ['loadBalancer.applicationProfilePath', spec.loadBalancer?.applicationProfilePath],
    ['loadBalancer.tls.clientSslProfilePath', spec.loadBalancer?.tls?.clientSslProfilePath],
  ]
  for (const [field, path] of paths)
    if (path !== undefined && !policyPathPattern.test(path))
      problems.push(`${field}: "${path}" is not a Policy path`)
  const lb = spec.loadBalancer
  if (lb !== undefined) {
    if (!isIPv4(lb.virtualIp))
      problems.push(`loadBalancer.virtualIp: "${lb.virtualIp}" is not an IPv4 address`)
    if (lb.ports.length === 0) problems.push('loadBalancer.ports: at least one port is needed')
    for (const port of lb.ports)
      if (!isPort(port)) problems.push(`loadBalancer.ports: ${port} is not a port (1-65535)`)
    if (lb.members.length === 0) problems.push('loadBalancer.members: at least one member is needed')
    lb.members.forEach((member, i) => {
      if (!isIPv4(member.ip))
        problems.push(`loadBalancer.members[${i}].ip: "${member.ip}" is not an IPv4 address`)
      if (!isPort(member.port))
        problems.push(`loadBalancer.members[${i}].port: ${member.port} is not a port (1-65535)`)
    })
    if (lb.tls !== undefined) {
      if (!/-----BEGIN CERTIFICATE-----/.test(lb.tls.certificatePem))
        problems.push('loadBalancer.tls.certificatePem: not a PEM certificate')
      // Never quote the key: say only that it is not one.
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(lb.tls.privateKeyPem))
        problems.push('loadBalancer.tls.privateKeyPem: not a PEM private key')
    }
  }
  spec.firewall?.rules.forEach((rule, i) => {
    if (!namePattern.test(rule.name))
      problems.push(`firewall.rules[${i}].name: "${rule.name}" is not a rule id`)
    for (const path of [
      ...(rule.from === 'any' ? [] : rule.from),
      ...(rule.services === 'any' ? [] : rule.services),
    ])
      if (!policyPathPattern.test(path)) problems.push(`firewall.rules[${i}]: "${path}" is not a Policy path`)
  })
  return problems
}

const isPort = (port: number) => Number.isInteger(port) && port >= 1 && port <= 65535

/** The objects the spec wants, in the order they can be created (what is referred to first). */
export function desiredObjects(spec: EnvironmentNetworkSpec): Desired[] {
  const ids = environmentIds(spec.env.envId)
  const tags = environmentTags(spec.env)
  const named = (id: string) => ({ display_name: id, tags })
  const out: Desired[] = []
  let tier1Path: string
  if (spec.tier1 !== undefined && 'existingPath' in spec.tier1) tier1Path = spec.tier1.existingPath
  else {
    tier1Path = pathOf(NsxKind.tier1, ids.tier1)
    const tier0Path = spec.tier1?.tier0Path
    const tier1: Tier1 = {
      ...named(ids.tier1),
      ...(tier0Path === undefined ? {} : { tier0_path: tier0Path }),
      route_advertisement_types: ['TIER1_CONNECTED', 'TIER1_LB_VIP'],
    }
    out.push({ kind: NsxKind.tier1, id: ids.tier1, body: tier1 })
  }
  const segment: Segment = {
    ...named(ids.segment),
    connectivity_path: tier1Path,
    subnets: [{ gateway_address: spec.segment.gatewayCidr }],
    ...(spec.segment.transportZonePath === undefined
      ? {}
      : { transport_zone_path: spec.segment.transportZonePath }),
  }
  out.push({ kind: NsxKind.segment, id: ids.segment, body: segment })

  const lb = spec.loadBalancer
  if (lb !== undefined) {
    let certificatePath: string | undefined
    if (lb.tls !== undefined) {
      const certificateId = ids.certificate(lb.tls.certificatePem)
      certificatePath = pathOf(NsxKind.certificate, certificateId)
      const certificate: TlsTrustData = {
        ...named(certificateId),
        pem_encoded: lb.tls.certificatePem.trim(),
        private_key: lb.tls.privateKeyPem.trim(),
        ...(lb.tls.passphrase === undefined ? {} : { passphrase: lb.tls.passphrase }),
      }
      out.push({ kind: NsxKind.certificate, id: certificateId, body: certificate })
    }
    const service: LBService = {
      ...named(ids.lbService),
      connectivity_path: tier1Path,
      size: lb.size ?? 'SMALL',
      enabled: true,
    }
    const pool: LBPool = {
      ...named(ids.lbPool),
      algorithm: 'ROUND_ROBIN',
      members: lb.members.map((member) => ({
        display_name: `${member.ip}-${member.port}`,
        ip_address: member.ip,
        port: String(member.port),
      })),
    }
    const virtualServer: LBVirtualServer = {
      ...named(ids.lbVirtualServer),
      ip_address: lb.virtualIp,
      ports: lb.ports.map(String),
      pool_path: pathOf(NsxKind.lbPool, ids.lbPool),
      lb_service_path: pathOf(NsxKind.lbService, ids.lbService),
      application_profile_path: lb.applicationProfilePath ?? defaultHttpProfilePath,
      ...(certificatePath === undefined
        ? {}
        : {
            client_ssl_profile_binding: {
              default_certificate_path: certificatePath,
              ssl_profile_path: lb.tls?.clientSslProfilePath ?? defaultClientSslProfilePath,
            },
          }),
      enabled: true,
    }
    out.push(
      { kind: NsxKind.lbService, id: ids.lbService, body: service },
      { kind: NsxKind.lbPool, id: ids.lbPool, body: pool },
      { kind: NsxKind.lbVirtualServer, id: ids.lbVirtualServer, body: virtualServer },
    )
  }

  if (spec.firewall !== undefined) {
    const groupPath = pathOf(NsxKind.group, ids.group)
    // The environment's group: its segment, found by the segment's environment tag ("scope|tag").
    const group: Group = {
      ...named(ids.group),
      expression: [
        {
          resource_type: 'Condition',
          member_type: 'Segment',
          key: 'Tag',
          operator: 'EQUALS',
          value: `${tags[3]?.scope}|${spec.env.envId}`,
        },
      ],
    }
    const policy: SecurityPolicy = {
      ...named(ids.securityPolicy),
      category: 'Application',
      scope: [groupPath],
      stateful: true,
      rules: spec.firewall.rules.map((rule, i) => ({
        id: rule.name,
        display_name: rule.name,
        action: rule.action,
        source_groups: rule.from === 'any' ? ['ANY'] : [...rule.from],
        destination_groups: [groupPath],
        services: rule.services === 'any' ? ['ANY'] : [...rule.services],
        scope: [groupPath],
        direction: 'IN_OUT',
        sequence_number: (i + 1) * 10,
        tags,
      })),
    }
    out.push(
      { kind: NsxKind.group, id: ids.group, body: group },
      { kind: NsxKind.securityPolicy, id: ids.securityPolicy, body: policy },
    )
  }
  return out
}

/** Fields NSX never answers (secrets) are not compared: an imported key is not read back. */
const writeOnly = new Set(['private_key', 'passphrase'])

/** Whether NSX's object already has every field the body sets, to the same value. */
export function isUpToDate(body: Record<string, unknown>, current: NsxObject): boolean {
  return Object.entries(body).every(([field, wanted]) => {
    if (writeOnly.has(field)) return true
    const have = current[field]
    if (field === 'tags') return sameTags(wanted as Tag[], have as Tag[] | undefined)
    if (field === 'rules' && Array.isArray(wanted) && Array.isArray(have))
      return (
        wanted.length === have.length &&
        wanted.every((rule: Record<string, unknown>) => {
          const match = have.find((h: NsxObject) => h.id === rule.id)
          return match !== undefined && isUpToDate(rule, match)
        })
      )
    return covers(wanted, have)
  })
}

/**
 * The fields the adapter writes for some specs and leaves out for others: when NSX's object has one the
 * body leaves out, a PATCH would keep it (fields NSX fills in with its defaults are not listed).
 */
const droppable: Partial<Record<NsxKind, readonly string[]>> = {
  'lb-virtual-server': ['client_ssl_profile_binding'],
  tier1: ['tier0_path'],
}

/** Whether NSX's object has a droppable field or a rule the body no longer has (a PATCH keeps both). */
export function needsReplace(kind: NsxKind, body: Record<string, unknown>, current: NsxObject): boolean {
  for (const field of droppable[kind] ?? []) if (current[field] !== undefined && !(field in body)) return true
  if (Array.isArray(current.rules) && Array.isArray(body.rules)) {
    const kept = new Set((body.rules as { id?: string }[]).map((rule) => rule.id))
    return (current.rules as { id?: string }[]).some((rule) => !kept.has(rule.id))
  }
  return false
}

/**
 * Whether `have` holds everything `wanted` does: the same scalars, every key of an object (NSX adds
 * its defaults, as a member's weight), arrays of the same length item by item.
 */
export function covers(wanted: unknown, have: unknown): boolean {
  if (Array.isArray(wanted))
    return Array.isArray(have) && have.length === wanted.length && wanted.every((w, i) => covers(w, have[i]))
  if (typeof wanted === 'object' && wanted !== null)
    return (
      typeof have === 'object' &&
      have !== null &&
      Object.entries(wanted).every(([key, w]) => covers(w, (have as Record<string, unknown>)[key]))
    )
  return wanted === have
}

const sameTags = (wanted: readonly Tag[], have: readonly Tag[] | undefined): boolean =>
  have !== undefined &&
  wanted.length === have.length &&
  wanted.every((w) => have.some((h) => h.scope === w.scope && h.tag === w.tag))

const toObject = (kind: NsxKind, id: string, found: NsxObject | undefined): NetworkObject => ({
  kind,
  id,
  path: typeof found?.path === 'string' ? found.path : pathOf(kind, id),
  revision: typeof found?._revision === 'number' ? found._revision : undefined,
})

const stepOf = (kind: NsxKind) => `nsx-${kind}`

/**
 * Makes NSX hold the environment's network as the spec says: each object read, written only when it
 * differs (so a second apply writes nothing and keeps every id), then what the environment has and
 * the spec no longer wants deleted, in dependency order.
 */
export async function applyEnvironmentNetwork(
  client: NsxClient,
  spec: EnvironmentNetworkSpec,
): Promise<Outcome<AppliedNetwork>> {
  const problems = specProblems(spec)
  if (problems.length > 0)
    return failed(
      failure('invalid', `the network of ${spec.env.envId} is not valid: ${problems.join('; ')}`, 'nsx-spec'),
    )
  const desired = desiredObjects(spec)
  const objects: NetworkObject[] = []
  const changed: string[] = []
  let step = 'nsx-read'
  try {
    for (const want of desired) {
      step = stepOf(want.kind)
      const current = await client.get(want.kind, want.id)
      if (current !== undefined && !belongsTo(current.tags as Tag[] | undefined, spec.env))
        throw new NsxError(
          'conflict',
          `NSX already has ${pathOf(want.kind, want.id)} and its tags do not name environment ${spec.env.envId} of ${spec.env.tenantId}/${spec.env.projectId}: it is left alone; remove or rename it`,
        )
      const dropped = current !== undefined && needsReplace(want.kind, want.body, current)
      if (current !== undefined && !dropped && isUpToDate(want.body, current)) {
        objects.push(toObject(want.kind, want.id, current))
        continue
      }
      // Where NSX's PATCH merges, a field the spec dropped would stay: such an object is replaced
      // instead, with the revision read, so that a concurrent change fails as a conflict.
      if (current !== undefined && dropped && patchSemantics[want.kind] === 'merge')
        await client.put(want.kind, want.id, { ...want.body, _revision: current._revision })
      else await client.patch(want.kind, want.id, want.body)
      changed.push(want.id)
      objects.push(toObject(want.kind, want.id, await client.get(want.kind, want.id)))
    }
    step = 'nsx-cleanup'
    const wanted = new Set(desired.map((d) => `${d.kind}/${d.id}`))
    const stale = (await findEnvironmentObjects(client, spec.env)).filter(
      (o) => !wanted.has(`${o.kind}/${o.id}`),
    )
    const removed = await deleteInOrder(client, stale)
    return succeeded({ objects, changed, removed: removed.map((o) => o.id) })
  } catch (error) {
    if (error instanceof NsxError) return failed(error.toFailure(step))
    throw error
  }
}

/** The environment's objects NSX's search finds by their tags (not those marked for delete). */
async function findEnvironmentObjects(client: NsxClient, env: EnvironmentRef): Promise<NetworkObject[]> {
  const found = await client.search(environmentQuery(env))
  const out: NetworkObject[] = []
  for (const object of found) {
    const kind = kindOfResourceType(String(object.resource_type ?? ''))
    if (kind === undefined || typeof object.id !== 'string') continue
    if (object.marked_for_delete === true || !belongsTo(object.tags as Tag[] | undefined, env)) continue
    out.push(toObject(kind, object.id, object))
  }
  return out
}

/** The environment's objects in NSX, found by their tags. */
export async function listEnvironmentNetwork(
  client: NsxClient,
  env: EnvironmentRef,
): Promise<Outcome<readonly NetworkObject[]>> {
  try {
    return succeeded(await findEnvironmentObjects(client, env))
  } catch (error) {
    if (error instanceof NsxError) return failed(error.toFailure('nsx-list'))
    throw error
  }
}

async function deleteInOrder(client: NsxClient, objects: readonly NetworkObject[]): Promise<NetworkObject[]> {
  const deleted: NetworkObject[] = []
  for (const kind of deleteOrder)
    for (const object of objects.filter((o) => o.kind === kind)) {
      await client.delete(object.kind, object.id)
      deleted.push(object)
    }
  return deleted
}

/**
 * Deletes every object of the environment: those the search finds by tag and those of the fixed ids
 * whose tags name it (the search index of a real NSX Manager may lag a write), virtual server first,
 * Tier-1 last. An object already gone is no error, so a destroy can be repeated.
 */
export async function destroyEnvironmentNetwork(
  client: NsxClient,
  env: EnvironmentRef,
): Promise<Outcome<{ readonly deleted: readonly NetworkObject[] }>> {
  const ids = environmentIds(env.envId)
  const known: NetworkObject[] = [
    toObject(NsxKind.lbVirtualServer, ids.lbVirtualServer, undefined),
    toObject(NsxKind.lbPool, ids.lbPool, undefined),
    toObject(NsxKind.lbService, ids.lbService, undefined),
    toObject(NsxKind.securityPolicy, ids.securityPolicy, undefined),
    toObject(NsxKind.group, ids.group, undefined),
    toObject(NsxKind.segment, ids.segment, undefined),
    toObject(NsxKind.tier1, ids.tier1, undefined),
  ]
  try {
    const found = await findEnvironmentObjects(client, env)
    // An object of a fixed id the search did not find is read: deleted when its tags name the
    // environment, left alone when they name another (the id is taken, not ours).
    const unlisted: NetworkObject[] = []
    for (const object of known.filter((k) => !found.some((f) => f.kind === k.kind && f.id === k.id))) {
      const current = await client.get(object.kind, object.id)
      if (current !== undefined && belongsTo(current.tags as Tag[] | undefined, env)) unlisted.push(object)
    }
    return succeeded({ deleted: await deleteInOrder(client, [...found, ...unlisted]) })
  } catch (error) {
    if (error instanceof NsxError) return failed(error.toFailure('nsx-destroy'))
    throw error
  }
}

export interface NetworkRealization {
  /** Whether NSX has realized every object. */
  readonly realized: boolean
  /** The paths NSX is still realizing. */
  readonly pending: readonly string[]
  /** The paths NSX failed to realize (publish_status ERROR), for a person to look at on the Manager. */
  readonly failed: readonly string[]
}

/**
 * How far NSX has realized the objects an apply answered: one read each, no waiting (the caller
 * polls, as a saga step's retry does).
 */
export async function networkRealization(
  client: NsxClient,
  objects: readonly NetworkObject[],
): Promise<Outcome<NetworkRealization>> {
  const pending: string[] = []
  const failedPaths: string[] = []
  try {
    for (const object of objects) {
      const status = await client.realization(object.path)
      if (status.publish_status === 'ERROR' || status.consolidated_status?.consolidated_status === 'ERROR')
        failedPaths.push(object.path)
      else if (status.publish_status !== 'REALIZED') pending.push(object.path)
    }
  } catch (error) {
    if (error instanceof NsxError) return failed(error.toFailure('nsx-realization'))
    throw error
  }
  return succeeded({
    realized: pending.length === 0 && failedPaths.length === 0,
    pending,
    failed: failedPaths,
  })
}
