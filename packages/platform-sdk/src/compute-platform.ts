import {
  Autoscaling,
  artifactRefField,
  closedObject,
  type DeployRequest,
  idField,
  type NetworkSpec,
  type ProvisionRequest,
  portField,
  slugField,
  timestampField,
  urlField,
} from '@rxt/contracts'
import Type, { type Static } from 'typebox'

/**
 * The interface every compute platform adapter implements (RXT Spot, SDDC Flex, the simulations):
 * six calls, each idempotent by the request's `key`, each answering a typed outcome — the result, or
 * a failure that says whether retrying can help. An adapter never throws for a platform's refusal;
 * only a bug in the adapter throws.
 *
 * Idempotency: a call that succeeded answers the same outcome to the same key and request, without
 * doing anything again; the same key with another request is a `conflict`. A failed call changes
 * nothing and is not the key's answer: the same key may be tried again once the cause is gone.
 */

const key = () =>
  Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$',
    description: 'Idempotency key: the same key and request give the same outcome, once',
  })
const envId = () => idField('The environment, as the control plane names it')

/** What kind of compute a platform gives: Kubernetes namespaces or virtual machines. */
export const ComputeKind = { k8s: 'k8s', vm: 'vm' } as const
export type ComputeKind = (typeof ComputeKind)[keyof typeof ComputeKind]

export const Protocol = { http: 'http', grpc: 'grpc', tcp: 'tcp', websocket: 'websocket' } as const
export type Protocol = (typeof Protocol)[keyof typeof Protocol]

const protocolField = () =>
  Type.Union([Type.Literal('http'), Type.Literal('grpc'), Type.Literal('tcp'), Type.Literal('websocket')])

// The requests of a deploy (provision, deploy, network) are the deploy plan's: @rxt/contracts owns them.
export { DeployRequest, NetworkSpec, Port, ProvisionRequest } from '@rxt/contracts'

export const ScaleSpec = closedObject({
  key: key(),
  envId: envId(),
  replicas: Type.Integer({ minimum: 0, maximum: 1000, description: '0 pauses the application' }),
  autoscaling: Autoscaling,
})
export type ScaleSpec = Static<typeof ScaleSpec>

export const DestroyRequest = closedObject({ key: key(), envId: envId() })
export type DestroyRequest = Static<typeof DestroyRequest>

/** A platform resource: what it is and its id there. */
export const ResourceRef = closedObject({
  kind: Type.String({ minLength: 1, maxLength: 63, description: 'Namespace, Deployment, VirtualMachine…' }),
  id: Type.String({ minLength: 1, maxLength: 256 }),
})
export type ResourceRef = Static<typeof ResourceRef>

export const EnvironmentOutcome = closedObject({
  envId: envId(),
  platformId: Type.String({
    minLength: 1,
    maxLength: 256,
    description: "The environment's id on the platform",
  }),
  resources: Type.Array(ResourceRef, { maxItems: 500 }),
})
export type EnvironmentOutcome = Static<typeof EnvironmentOutcome>

export const Endpoint = closedObject({
  name: slugField('The port name'),
  host: Type.String({ minLength: 1, maxLength: 253, description: 'Internal host name or address' }),
  port: portField('Port'),
  protocol: protocolField(),
})
export type Endpoint = Static<typeof Endpoint>

export const DeploymentOutcome = closedObject({
  envId: envId(),
  revision: Type.Integer({ minimum: 1, description: 'Counts deploys that changed something' }),
  image: artifactRefField('What runs'),
  replicas: Type.Integer({ minimum: 0 }),
  endpoints: Type.Array(Endpoint, { maxItems: 20 }),
  resources: Type.Array(ResourceRef, { maxItems: 500 }),
})
export type DeploymentOutcome = Static<typeof DeploymentOutcome>

export const NetworkOutcome = closedObject({
  envId: envId(),
  urls: Type.Array(urlField('Where the application answers'), { maxItems: 50 }),
  vip: Type.Union([Type.String({ minLength: 2, maxLength: 45 }), Type.Null()], {
    description: 'The load balancer address, or null for none',
  }),
  tls: Type.Union([
    closedObject({
      issuer: Type.String({ minLength: 1, maxLength: 200 }),
      expiresAt: Type.Union([timestampField('Expiry'), Type.Null()], {
        description: 'null: a provided certificate, whose expiry its owner tracks',
      }),
    }),
    Type.Null(),
  ]),
  resources: Type.Array(ResourceRef, { maxItems: 500 }),
})
export type NetworkOutcome = Static<typeof NetworkOutcome>

export const ScaleOutcome = closedObject({
  envId: envId(),
  replicas: Type.Integer({ minimum: 0 }),
  autoscaling: ScaleSpec.properties.autoscaling,
})
export type ScaleOutcome = Static<typeof ScaleOutcome>

export const DestroyOutcome = closedObject({
  envId: envId(),
  existed: Type.Boolean({ description: 'false: there was nothing to destroy' }),
})
export type DestroyOutcome = Static<typeof DestroyOutcome>

export const EnvironmentPhase = {
  absent: 'absent',
  provisioned: 'provisioned',
  progressing: 'progressing',
  ready: 'ready',
  degraded: 'degraded',
} as const
export type EnvironmentPhase = (typeof EnvironmentPhase)[keyof typeof EnvironmentPhase]

export const EnvironmentStatus = closedObject({
  envId: envId(),
  phase: Type.Union(
    [
      Type.Literal('absent'),
      Type.Literal('provisioned'),
      Type.Literal('progressing'),
      Type.Literal('ready'),
      Type.Literal('degraded'),
    ],
    { description: 'absent, provisioned (nothing deployed), progressing (a rollout), ready, degraded' },
  ),
  message: Type.String({ maxLength: 2000, description: 'For people: what the phase means here' }),
  revision: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  image: Type.Union([artifactRefField('What runs'), Type.Null()]),
  replicas: closedObject({ desired: Type.Integer({ minimum: 0 }), ready: Type.Integer({ minimum: 0 }) }),
  urls: Type.Array(urlField('Where the application answers'), { maxItems: 50 }),
  healthy: Type.Boolean({ description: 'Every desired replica passes its health check' }),
  resources: Type.Array(ResourceRef, { maxItems: 500 }),
})
export type EnvironmentStatus = Static<typeof EnvironmentStatus>

/** Why a call failed: a closed set, each with whether the same call can succeed later. */
export const FailureCode = {
  /** The request breaks the schema or the provider's limits: fix it, do not retry. */
  invalid: 'invalid',
  /** The environment does not exist (not provisioned, or destroyed). */
  notFound: 'not-found',
  /** The key was used before with another request, or the state forbids the call. */
  conflict: 'conflict',
  /** The platform refused it (quota, admission, capacity): the message says why. */
  rejected: 'rejected',
  /** The platform could not be reached or failed for now. */
  unavailable: 'unavailable',
  /** The platform did not finish in time; it may still. */
  timeout: 'timeout',
} as const
export type FailureCode = (typeof FailureCode)[keyof typeof FailureCode]

const retryableCodes: ReadonlySet<FailureCode> = new Set([FailureCode.unavailable, FailureCode.timeout])

export interface PlatformFailure {
  readonly code: FailureCode
  /** For people; never a secret. */
  readonly message: string
  readonly retryable: boolean
  /** The step of the call that failed (`namespace`, `deployment`, `clone-vm`…), when known. */
  readonly step?: string
}

/** A failure with `retryable` set from its code. */
export const failure = (code: FailureCode, message: string, step?: string): PlatformFailure => ({
  code,
  message,
  retryable: retryableCodes.has(code),
  ...(step === undefined ? {} : { step }),
})

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly failure: PlatformFailure }

export const succeeded = <T>(value: T): Outcome<T> => ({ ok: true, value })
export const failed = <T = never>(f: PlatformFailure): Outcome<T> => ({ ok: false, failure: f })

export interface IComputePlatform {
  /** The provider's name, as in its provider.yaml. */
  readonly name: string
  readonly kind: ComputeKind
  provisionEnvironment(request: ProvisionRequest): Promise<Outcome<EnvironmentOutcome>>
  deployApplication(request: DeployRequest): Promise<Outcome<DeploymentOutcome>>
  configureNetwork(spec: NetworkSpec): Promise<Outcome<NetworkOutcome>>
  scaleResources(spec: ScaleSpec): Promise<Outcome<ScaleOutcome>>
  getStatus(envId: string): Promise<Outcome<EnvironmentStatus>>
  destroyEnvironment(request: DestroyRequest): Promise<Outcome<DestroyOutcome>>
}

/** A compute platform as the control plane knows it: the adapter and what its provider.yaml says. */
export type ComputePlatform = IComputePlatform
