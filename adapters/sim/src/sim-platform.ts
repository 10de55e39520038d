import { createHash } from 'node:crypto'
import { canonical } from '@rxt/contracts/manifest'
import type { Clock, ContextDb, Queryable, Transaction } from '@rxt/kit'
import {
  checkRequest,
  type DeploymentOutcome,
  DeployRequest,
  type DestroyOutcome,
  DestroyRequest,
  type EnvironmentOutcome,
  type EnvironmentStatus,
  FailureCode,
  failed,
  failure,
  type IComputePlatform,
  type NetworkOutcome,
  NetworkSpec,
  type Outcome,
  ProvisionRequest,
  platformName,
  type ResourceRef,
  type ScaleOutcome,
  ScaleSpec,
  succeeded,
} from '@rxt/platform-sdk'
import type { TSchema } from 'typebox'

/** The two simulations: one like a Kubernetes cluster, one like a vCenter with NSX. */
export const SimFlavor = { container: 'container', vm: 'vm' } as const
export type SimFlavor = (typeof SimFlavor)[keyof typeof SimFlavor]

export const simProviderName = (flavor: SimFlavor) => `sim-${flavor}` as const

export type Operation =
  | 'provisionEnvironment'
  | 'deployApplication'
  | 'configureNetwork'
  | 'scaleResources'
  | 'getStatus'
  | 'destroyEnvironment'

/** Failures to inject, so that what calls a platform (sagas) can be tested when it fails. */
export interface SimFaults {
  /** Fail the Nth call from now (1-based, every operation counted). */
  readonly failCall?: number
  /** Fail this share of calls, 0 to 1. */
  readonly failRate?: number
  /** Fail every call of this operation (the step a saga names). */
  readonly failOperation?: Operation
  /** The failure injected: `unavailable` (retryable) unless given. */
  readonly code?: FailureCode
}

export interface SimOptions {
  readonly flavor: SimFlavor
  /** Added to every call, or per operation. */
  readonly latencyMs?: number | Partial<Record<Operation, number>>
  /** How long a rollout (deploy, scale) takes before its replicas are ready; 0 unless given. */
  readonly rolloutMs?: number
  readonly faults?: SimFaults
  /** The source of failRate's dice; Math.random unless given. */
  readonly random?: () => number
}

/** Where a simulation's calls run: the context's database, or a transaction already open. */
type Runner = Queryable & Pick<ContextDb, 'transaction'>

export interface SimPlatform extends IComputePlatform {
  /** The same simulation (its injected faults too), its calls run in `tx`. */
  within(tx: Transaction): IComputePlatform
  /** Replaces the injected failures (undefined: none); the call count restarts. */
  inject(faults: SimFaults | undefined): void
  /** What the simulation holds of an environment and of the given resources (0 once destroyed). */
  leftovers(envId: string, resources?: readonly ResourceRef[]): Promise<number>
  /** Whether the simulation is healthy: its state answers and no standing fault is injected; not a counted call. */
  probe(): Promise<Outcome<undefined>>
  /** Forgets the answers of calls made before `olderThan` (their keys may then run again). */
  forget(olderThan: Date): Promise<number>
}

type EnvironmentRow = {
  platform_id: string
  request: ProvisionRequest
  deploy: DeployRequest | null
  revision: number
  replicas: number
  autoscaling: ScaleSpec['autoscaling']
  network: NetworkOutcome | null
  ready_at: Date | null
}

const certificateDays = 90

/**
 * A simulated compute platform. Nothing runs: it keeps what a real platform would hold in its own
 * schema (so a restart keeps it), answers every call as the SDK says (idempotent by key, typed
 * failures), and says it is a simulation wherever people look: its name, the status message, `.invalid`
 * host names, documentation-range addresses and a certificate issuer that issued nothing.
 */
export function createSimPlatform(deps: { db: ContextDb; clock: Clock }, options: SimOptions): SimPlatform {
  const { clock } = deps
  const name = simProviderName(options.flavor)
  const container = options.flavor === SimFlavor.container
  const random = options.random ?? Math.random
  let faults = options.faults
  let calls = 0

  const latency = (operation: Operation) =>
    typeof options.latencyMs === 'number' ? options.latencyMs : (options.latencyMs?.[operation] ?? 0)
  const injected = (operation: Operation) => {
    calls++
    if (faults === undefined) return undefined
    const hit =
      faults.failCall === calls ||
      faults.failOperation === operation ||
      (faults.failRate !== undefined && random() < faults.failRate)
    if (!hit) return undefined
    return failure(
      faults.code ?? FailureCode.unavailable,
      `${name} (simulated): ${operation} failed by injection (call ${calls})`,
      operation,
    )
  }
  const pause = (ms: number) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined)
  const digestOf = (value: unknown) => createHash('sha256').update(canonical(value)).digest('hex')
  const host = (env: EnvironmentRow, app?: string) =>
    `${app === undefined ? '' : `${app}.`}${env.platform_id}.${name}.invalid`

  /** Runs a call once per key: checked, delayed, maybe failed by injection, then recorded. */
  async function once<T>(
    db: Runner,
    operation: Operation,
    schema: TSchema,
    request: { key: string },
    work: (tx: Transaction) => Promise<Outcome<T>>,
  ): Promise<Outcome<T>> {
    const invalid = checkRequest(schema, request)
    if (invalid !== undefined) return failed(invalid)
    await pause(latency(operation))
    const fault = injected(operation)
    if (fault !== undefined) return failed(fault)
    const digest = digestOf(request)
    return db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${name}:${request.key}`])
      const prior = (
        await tx.query<{ operation: string; request_digest: string; outcome: Outcome<T> }>(
          'SELECT operation, request_digest, outcome FROM calls WHERE platform = $1 AND key = $2',
          [name, request.key],
        )
      ).rows[0]
      if (prior !== undefined) {
        if (prior.operation === operation && prior.request_digest === digest) return prior.outcome
        return failed(
          failure(
            FailureCode.conflict,
            `key ${request.key} was used for another request (${prior.operation})`,
          ),
        )
      }
      const outcome = await work(tx)
      // A failed call changed nothing, and the state that refused it may change (the environment gets
      // provisioned, the quota raised): only a success is the key's answer.
      if (outcome.ok) {
        await tx.query(
          'INSERT INTO calls (platform, key, operation, request_digest, outcome, at) VALUES ($1, $2, $3, $4, $5, $6)',
          [name, request.key, operation, digest, JSON.stringify(outcome), clock.now()],
        )
      }
      return outcome
    })
  }

  const environment = async (
    tx: Queryable,
    envId: string,
    lock = true,
  ): Promise<EnvironmentRow | undefined> =>
    (
      await tx.query<EnvironmentRow>(
        `SELECT platform_id, request, deploy, revision, replicas, autoscaling, network, ready_at
           FROM environments WHERE platform = $1 AND env_id = $2 ${lock ? 'FOR UPDATE' : ''}`,
        [name, envId],
      )
    ).rows[0]
  const absent = (envId: string) =>
    failed<never>(failure(FailureCode.notFound, `${name} (simulated) has no environment ${envId}`))

  const environmentResources = (request: ProvisionRequest): ResourceRef[] =>
    container
      ? [
          { kind: 'SimNamespace', id: platformName(request) },
          { kind: 'SimResourceQuota', id: `${platformName(request)}/quota` },
        ]
      : [
          { kind: 'SimVmFolder', id: platformName(request) },
          { kind: 'SimNetworkSegment', id: `${platformName(request)}-segment` },
        ]
  const workloadResources = (env: EnvironmentRow, deploy: DeployRequest, replicas: number): ResourceRef[] =>
    container
      ? [
          {
            kind: deploy.stateful ? 'SimStatefulSet' : 'SimDeployment',
            id: `${env.platform_id}/${deploy.app}`,
          },
          { kind: 'SimService', id: `${env.platform_id}/${deploy.app}` },
        ]
      : Array.from({ length: replicas }, (_, i) => ({
          kind: 'SimVirtualMachine',
          id: `${env.platform_id}-${deploy.app}-${i + 1}`,
        }))
  const deploymentOutcome = (
    envId: string,
    env: EnvironmentRow,
    deploy: DeployRequest,
  ): DeploymentOutcome => ({
    envId,
    revision: env.revision,
    image: deploy.image,
    replicas: env.replicas,
    endpoints: deploy.ports.map((p) => ({
      name: p.name,
      host: host(env, deploy.app),
      port: p.port,
      protocol: p.protocol,
    })),
    resources: workloadResources(env, deploy, env.replicas),
  })

  /** The six calls, run on `db`: the context's database, or a handler's transaction (`within`). */
  const callsOn = (db: Runner): IComputePlatform => ({
    name,
    kind: container ? 'k8s' : 'vm',
    provisionEnvironment: (request) =>
      once(
        db,
        'provisionEnvironment',
        ProvisionRequest,
        request,
        async (tx): Promise<Outcome<EnvironmentOutcome>> => {
          // One environment and one name at a time, whatever the keys (always in this order).
          await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${name}:env:${request.envId}`])
          const platformId = platformName(request)
          await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${name}:name:${platformId}`])
          const existing = await environment(tx, request.envId)
          if (existing !== undefined && existing.request.tenantId !== request.tenantId)
            return failed(failure(FailureCode.conflict, `${request.envId} is another tenant's environment`))
          if (existing === undefined) {
            const taken = await tx.query(
              'SELECT 1 FROM environments WHERE platform = $1 AND platform_id = $2',
              [name, platformId],
            )
            if ((taken.rowCount ?? 0) > 0)
              return failed(
                failure(FailureCode.conflict, `${platformId} is another environment's name on ${name}`),
              )
            await tx.query(
              `INSERT INTO environments (platform, env_id, platform_id, tenant_id, request) VALUES ($1, $2, $3, $4, $5)`,
              [name, request.envId, platformId, request.tenantId, JSON.stringify(request)],
            )
          }
          const env = existing?.request ?? request
          return succeeded({
            envId: request.envId,
            platformId: platformName(env),
            resources: environmentResources(env),
          })
        },
      ),

    deployApplication: (request) =>
      once(
        db,
        'deployApplication',
        DeployRequest,
        request,
        async (tx): Promise<Outcome<DeploymentOutcome>> => {
          const env = await environment(tx, request.envId)
          if (env === undefined) return absent(request.envId)
          const { key: _key, ...wanted } = request
          const current = env.deploy === null ? undefined : (({ key: _k, ...rest }) => rest)(env.deploy)
          // The same application again changes nothing: no new revision, no rollout.
          if (current !== undefined && digestOf(current) === digestOf(wanted))
            return succeeded(deploymentOutcome(request.envId, env, request))
          const next: EnvironmentRow = {
            ...env,
            deploy: request,
            revision: env.revision + 1,
            replicas:
              env.autoscaling === null
                ? request.replicas
                : Math.max(request.replicas, env.autoscaling.minReplicas),
          }
          await tx.query(
            `UPDATE environments SET deploy = $3, revision = $4, replicas = $5, ready_at = $6
            WHERE platform = $1 AND env_id = $2`,
            [name, request.envId, JSON.stringify(request), next.revision, next.replicas, rolloutEnd()],
          )
          return succeeded(deploymentOutcome(request.envId, next, request))
        },
      ),

    configureNetwork: (spec) =>
      once(db, 'configureNetwork', NetworkSpec, spec, async (tx): Promise<Outcome<NetworkOutcome>> => {
        const env = await environment(tx, spec.envId)
        if (env === undefined) return absent(spec.envId)
        const hostnames = spec.hostnames.length > 0 ? spec.hostnames : [host(env)]
        const scheme = spec.tls === 'off' ? 'http' : 'https'
        const octet = (Number.parseInt(digestOf(spec.envId).slice(0, 2), 16) % 254) + 1
        const outcome: NetworkOutcome = {
          envId: spec.envId,
          urls: hostnames.map((h) => `${scheme}://${h}/`),
          // Documentation-range addresses (RFC 5737): nothing answers there.
          vip: spec.visibility === 'private' ? null : container ? null : `198.51.100.${octet}`,
          tls:
            spec.tls === 'off'
              ? null
              : spec.certificateRef !== undefined
                ? { issuer: `provided (${spec.certificateRef})`, expiresAt: null }
                : {
                    issuer: `${name} (simulated: no certificate was issued)`,
                    expiresAt: new Date(clock.now().getTime() + certificateDays * 86_400_000).toISOString(),
                  },
          resources: container
            ? [
                { kind: 'SimIngress', id: `${env.platform_id}/ingress` },
                ...(spec.tls === 'off' ? [] : [{ kind: 'SimCertificate', id: `${env.platform_id}/tls` }]),
                { kind: 'SimNetworkPolicy', id: `${env.platform_id}/default-deny` },
              ]
            : [
                { kind: 'SimLoadBalancer', id: `${env.platform_id}-lb` },
                { kind: 'SimFirewallRule', id: `${env.platform_id}-default-deny` },
              ],
        }
        await tx.query('UPDATE environments SET network = $3 WHERE platform = $1 AND env_id = $2', [
          name,
          spec.envId,
          JSON.stringify(outcome),
        ])
        return succeeded(outcome)
      }),

    scaleResources: (spec) =>
      once(db, 'scaleResources', ScaleSpec, spec, async (tx): Promise<Outcome<ScaleOutcome>> => {
        const env = await environment(tx, spec.envId)
        if (env === undefined) return absent(spec.envId)
        if (env.deploy === null)
          return failed(failure(FailureCode.conflict, `nothing is deployed to ${spec.envId} to scale`))
        if (spec.autoscaling !== null && spec.autoscaling.minReplicas > spec.autoscaling.maxReplicas)
          return failed(failure(FailureCode.invalid, 'autoscaling.minReplicas is above maxReplicas'))
        const replicas =
          spec.autoscaling === null
            ? spec.replicas
            : Math.min(Math.max(spec.replicas, spec.autoscaling.minReplicas), spec.autoscaling.maxReplicas)
        await tx.query(
          `UPDATE environments SET replicas = $3, autoscaling = $4, ready_at = $5 WHERE platform = $1 AND env_id = $2`,
          [name, spec.envId, replicas, JSON.stringify(spec.autoscaling), rolloutEnd()],
        )
        return succeeded({ envId: spec.envId, replicas, autoscaling: spec.autoscaling })
      }),

    async getStatus(envId): Promise<Outcome<EnvironmentStatus>> {
      await pause(latency('getStatus'))
      const fault = injected('getStatus')
      if (fault !== undefined) return failed(fault)
      // Read without a lock: a probe never waits behind a rollout.
      const env = await environment(db, envId, false)
      const simulated = `${name} (simulated; nothing runs)`
      if (env === undefined) {
        return succeeded({
          envId,
          phase: 'absent',
          message: `${simulated}: no such environment`,
          revision: null,
          image: null,
          replicas: { desired: 0, ready: 0 },
          urls: [],
          healthy: false,
          resources: [],
        })
      }
      const deploy = env.deploy
      const rolledOut = env.ready_at === null || env.ready_at.getTime() <= clock.now().getTime()
      const phase = deploy === null ? 'provisioned' : rolledOut ? 'ready' : 'progressing'
      const ready = phase === 'ready' ? env.replicas : 0
      return succeeded({
        envId,
        phase,
        message:
          deploy === null
            ? `${simulated}: provisioned, nothing deployed`
            : `${simulated}: ${ready} of ${env.replicas} replicas ready at revision ${env.revision}`,
        revision: deploy === null ? null : env.revision,
        image: deploy?.image ?? null,
        replicas: { desired: env.replicas, ready },
        urls: env.network?.urls ?? [],
        healthy: phase === 'ready',
        resources: [
          ...environmentResources(env.request),
          ...(deploy === null ? [] : workloadResources(env, deploy, env.replicas)),
          ...(env.network?.resources ?? []),
        ],
      })
    },

    destroyEnvironment: (request) =>
      once(
        db,
        'destroyEnvironment',
        DestroyRequest,
        request,
        async (tx): Promise<Outcome<DestroyOutcome>> => {
          const removed = await tx.query('DELETE FROM environments WHERE platform = $1 AND env_id = $2', [
            name,
            request.envId,
          ])
          return succeeded({ envId: request.envId, existed: (removed.rowCount ?? 0) > 0 })
        },
      ),
  })

  const db = deps.db
  return {
    ...callsOn(deps.db),
    // In a handler's transaction (PGlite has one connection: a second transaction would wait for it).
    within: (tx) =>
      callsOn({ query: (text, params) => tx.query(text, params), transaction: (fn) => fn(tx) } as Runner),

    inject(next) {
      faults = next
      calls = 0
    },

    async probe() {
      // Health: the state store answers, and no standing fault is injected (a one-off failCall is not one).
      await pause(latency('getStatus'))
      const broken =
        faults !== undefined && (faults.failOperation !== undefined || (faults.failRate ?? 0) > 0)
      if (broken)
        return failed(
          failure(faults?.code ?? FailureCode.unavailable, `${name} (simulated): failures are injected`),
        )
      await db.query('SELECT 1')
      return succeeded(undefined)
    },

    async forget(olderThan) {
      const removed = await db.query('DELETE FROM calls WHERE platform = $1 AND at < $2', [name, olderThan])
      return removed.rowCount ?? 0
    },

    async leftovers(envId, resources = []) {
      // The environment's row, and any of the named resources an environment still holds (every
      // simulated resource is named after the environment that holds it).
      const { rows } = await db.query<{ env_id: string; platform_id: string }>(
        'SELECT env_id, platform_id FROM environments WHERE platform = $1',
        [name],
      )
      const held = resources.filter((r) =>
        rows.some(
          (row) =>
            r.id === row.platform_id ||
            r.id.startsWith(`${row.platform_id}/`) ||
            r.id.startsWith(`${row.platform_id}-`),
        ),
      )
      return rows.filter((row) => row.env_id === envId).length + held.length
    },
  }

  function rolloutEnd(): Date {
    return new Date(clock.now().getTime() + (options.rolloutMs ?? 0))
  }
}
