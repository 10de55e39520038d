// What an SDDC Flex environment is, apart from vCenter: its state as kept in its folder's custom
// attributes, the names of its VMs, what they are given, what its quota allows, and how vCenter's and
// NSX's errors become a call's typed failure. Pure.
import { createHash } from 'node:crypto'
import { canonical } from '@rxt/contracts/manifest'
import {
  type DeploymentOutcome,
  type DeployRequest,
  FailureCode,
  failed,
  failure,
  type NetworkOutcome,
  type NetworkSpec,
  type Outcome,
  type PlatformFailure,
  type ProvisionRequest,
  type ResourceRef,
  ScaleSpec,
} from '@rxt/platform-sdk'
import Type, { type Static } from 'typebox'
import { NsxError } from './nsx/index.ts'
import { VimError } from './vim/client.ts'
import { asList, field, type Ref, text } from './vim/xml.ts'

/** cmd.sddc.scale's change: the VM count and the size of each VM (a new size is a new revision). */
export const ResizeSpec = Type.Object(
  {
    key: ScaleSpec.properties.key,
    envId: ScaleSpec.properties.envId,
    replicas: Type.Integer({ minimum: 0, maximum: 100 }),
    cpu: Type.Integer({ minimum: 1, maximum: 128 }),
    memoryMiB: Type.Integer({ minimum: 4, maximum: 4_194_304 }),
  },
  { additionalProperties: false },
)
export type ResizeSpec = Static<typeof ResizeSpec>

export const sddcProviderName = 'sddc-flex'

/** Where in vCenter environments go, and what they are made of (SDDC_* settings). */
export interface SddcSettings {
  readonly datacenter: string
  /** The cluster whose root resource pool holds each environment's pool. */
  readonly cluster: string
  readonly datastore: string
  /** The template VMs are cloned from, as a path under the datacenter's VM folder. */
  readonly template: string
  /** The distributed switch environments' segments (port groups) are made on. */
  readonly switch: string
  /** The folder under the datacenter's VM folder that holds one folder per environment. */
  readonly folder: string
  /** Hostnames of environments that name none: `<app>-<environment>.<baseDomain>`. */
  readonly baseDomain: string
  /** How long one vCenter task (a clone, a power-on) may take. */
  readonly taskTimeoutMs: number
  /** The gateway of every environment's segment (`10.64.0.1/24`): VMs get addresses in it, by revision and index. */
  readonly segmentGateway: string
}

/** What networking an environment's load balancer, TLS and firewall are made with (NSX). */
export interface SddcNetworking {
  /** Applies the environment's load balancer, certificate and firewall; idempotent. */
  configure(
    env: EnvironmentScope,
    spec: NetworkSpec,
    hostnames: readonly string[],
    members: readonly { name: string; ip: string }[],
  ): Promise<Outcome<{ vip: string | null; tls: NetworkOutcome['tls']; resources: ResourceRef[] }>>
  /** Removes all of it; nothing there is fine. */
  destroy(env: EnvironmentScope): Promise<void>
  /** What of an environment it still holds (0 once destroyed). */
  leftovers(env: EnvironmentScope): Promise<number>
}

export interface EnvironmentScope {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  /** The environment's name on the platform: its folder, pool and port group are named so. */
  readonly scope: string
}

/**
 * What vCenter keeps of an environment, as JSON in its folder's custom attribute `rxt.state`: the
 * adapter's only state besides its answers by key (ADR 0030).
 */
export interface EnvState {
  readonly v: 1
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  readonly scope: string
  readonly quota: ProvisionRequest['quota']
  readonly provisionDigest: string
  readonly deploy?: {
    readonly revision: number
    readonly digest: string
    readonly app: string
    readonly image: string
    readonly replicas: number
    readonly cpu: number
    readonly memoryMiB: number
    /** What each VM of the revision is given in guestinfo (new VMs of a scale get the same). */
    readonly guest?: Readonly<Record<string, string>>
    /** What the deploy asked per replica, before rounding to whole vCPUs: what the quota bounds. */
    readonly asked?: DeployRequest['resources']
    readonly ports: DeployRequest['ports']
  }
  readonly autoscaling?: ScaleSpec['autoscaling']
  readonly network?: {
    readonly urls: string[]
    readonly vip: string | null
    readonly tls: NetworkOutcome['tls']
    /** What was asked: applied again when the VMs behind the load balancer change (a scale, a resize). */
    readonly spec: NetworkSpec
  }
}

/** The custom attributes the adapter defines in vCenter. */
export const Field = { env: 'rxt.env', tenant: 'rxt.tenant', state: 'rxt.state' } as const

export const digestOf = (value: unknown) => createHash('sha256').update(canonical(value)).digest('hex')

/** VMs take whole vCPUs, and memory in multiples of 4 MiB. */
export const vmShape = (resources: DeployRequest['resources']) => ({
  cpu: Math.max(1, Math.ceil(resources.cpu)),
  memoryMiB: Math.max(4, Math.ceil(resources.memoryMiB / 4) * 4),
})

export const vmName = (scope: string, revision: number, index: number) => `${scope}-r${revision}-${index}`
/** A VM's address on its segment: two revisions side by side during a rollout never share one (20 VMs each at most). */
export const vmHost = (revision: number, index: number) => 10 + (revision % 2) * 100 + index
export const parseVmName = (scope: string, name: string) => {
  const match = new RegExp(`^${scope.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-r(\\d+)-(\\d+)$`).exec(name)
  return match === null ? undefined : { revision: Number(match[1]), index: Number(match[2]) }
}

export interface Located {
  readonly folder: Ref
  readonly state: EnvState
}

export interface EnvVm {
  readonly ref: Ref
  /** Its environment's folder (the VM's vApp, as evt.sddc.vm.created calls it). */
  readonly folder: string
  readonly name: string
  readonly revision: number
  readonly index: number
  readonly poweredOn: boolean
  /** Its address on the segment (the agent sets it from guestinfo.rxt.ip). */
  readonly ip: string
}

/** What a VM's agent reads: the image, its environment, its secrets by reference, its ports. */
export const guestOf = (request: DeployRequest): Record<string, string> => ({
  'guestinfo.rxt.app': request.app,
  'guestinfo.rxt.image': request.image,
  'guestinfo.rxt.env': Buffer.from(canonical(request.env)).toString('base64'),
  'guestinfo.rxt.secret-refs': Buffer.from(
    canonical(Object.fromEntries(request.secrets.map((s) => [s.env, s.ref]))),
  ).toString('base64'),
  'guestinfo.rxt.ports': request.ports.map((p) => `${p.name}:${p.port}/${p.protocol}`).join(','),
})

/**
 * The quota bounds what a deploy asks (replicas × its CPU and memory), as on every platform; a VM's
 * rounding up to whole vCPUs is this platform's granularity (the plan's summary says so), not more asked.
 */
export const quotaRefusal = (
  state: EnvState,
  replicas: number,
  asked: { cpu: number; memoryMiB: number },
) => {
  if (replicas * asked.cpu > state.quota.cpu)
    return failed<never>(
      failure(
        FailureCode.rejected,
        `${replicas} replicas of ${asked.cpu} vCPU exceed the environment's quota of ${state.quota.cpu} vCPU`,
      ),
    )
  if (replicas * asked.memoryMiB > state.quota.memoryMiB)
    return failed<never>(
      failure(
        FailureCode.rejected,
        `${replicas} replicas of ${asked.memoryMiB} MiB exceed the environment's quota of ${state.quota.memoryMiB} MiB`,
      ),
    )
  return undefined
}

/** A vCenter or NSX error as the typed failure of a call's `step` (never a secret: faults carry none); undefined for a bug. */
export function failureOfError(error: unknown, step: string): PlatformFailure | undefined {
  if (error instanceof NsxError) return error.toFailure(step)
  if (!(error instanceof VimError)) return undefined
  if (error.kind === 'timeout') return failure(FailureCode.timeout, error.message, step)
  if (error.kind === 'unavailable') return failure(FailureCode.unavailable, error.message, step)
  if (error.fault === 'NotFound') return failure(FailureCode.invalid, error.message, step)
  if (
    error.fault === 'InvalidLogin' ||
    error.fault === 'NoPermission' ||
    error.fault === 'InsufficientResourcesFault' ||
    error.fault === 'NotEnoughLicenses' ||
    error.fault === 'OutOfBounds'
  )
    return failure(FailureCode.rejected, error.message, step)
  return failure(FailureCode.unavailable, error.message, step)
}

/** An environment's state, from its folder's custom values; undefined when it holds none that reads. */
export const stateOf = (customValue: unknown, stateKey: number): EnvState | undefined => {
  const value = asList(customValue as never).find((v) => text(field(v, 'key')) === String(stateKey))
  if (value === undefined) return undefined
  try {
    return JSON.parse(text(field(value, 'value'))) as EnvState
  } catch {
    return undefined
  }
}

/** What a deploy answers: the state's revision and its VMs. */
export const deploymentOutcome = (
  state: EnvState,
  vms: readonly EnvVm[],
  baseDomain: string,
): DeploymentOutcome => {
  const d = state.deploy as NonNullable<EnvState['deploy']>
  return {
    envId: state.envId,
    revision: d.revision,
    image: d.image,
    replicas: d.replicas,
    endpoints: d.ports.map((p) => ({
      name: p.name,
      host: `${d.app}.${state.scope}.${baseDomain}`,
      port: p.port,
      protocol: p.protocol,
    })),
    resources: vms
      .filter((vm) => vm.revision === d.revision)
      .map((vm) => ({ kind: 'VirtualMachine', id: vm.ref.value })),
  }
}

/** The hostnames a network serves: those asked, or one under the base domain. */
export const hostnamesOf = (state: EnvState, spec: NetworkSpec, baseDomain: string) =>
  spec.hostnames.length > 0
    ? [...spec.hostnames]
    : [`${state.deploy?.app ?? 'app'}-${state.scope}.${baseDomain}`]
