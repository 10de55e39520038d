import { closedObject, idField, slugField } from '@rxt/contracts'
import type { Clock, Queryable } from '@rxt/kit'
import {
  Annotation,
  createLedger,
  type DeliveredSecret,
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
  Label,
  managedBy,
  maxWorkloadNameLength,
  type NetworkOutcome,
  NetworkSpec,
  type Outcome,
  ownerLabels,
  ProvisionRequest,
  type ScaleOutcome,
  ScaleSpec,
  succeeded,
} from '@rxt/platform-sdk'
import Type from 'typebox'
import { requestAt } from './history.ts'
import { FieldManager, failureOf, isPlatformError, type Kube, type ObjectRef } from './kube.ts'
import { kubeconfigFor } from './kubeconfig.ts'
import {
  type ClusterSettings,
  certificateDuration,
  EnvObject,
  environmentObjects,
  environmentSelector,
  hostnamesOf,
  type KubeObject,
  namespaceOf,
  networkObjects,
  requestDigest,
  scaleObjects,
  secretObject,
  serviceNames,
  workloadObjects,
} from './render/index.ts'
import { refOf, revisionOf, rolledOut, stalled, statusOf } from './status.ts'

export const spotProviderName = 'rxt-spot'

export interface SpotOptions {
  readonly kube: Kube
  readonly cluster: ClusterSettings
  /** How long destroy waits for the namespace to be gone (default 5 min). */
  readonly destroyTimeoutMs?: number
  /**
   * The most one environment of a tenant may ask for (its plan); undefined: what the request asks,
   * within the provider's own limits.
   */
  readonly planLimits?: (tenantId: string) => ProvisionRequest['quota'] | undefined
}

/** Short-lived credentials for an environment: a kubeconfig bound to its ServiceAccount. */
export interface EnvironmentCredentials {
  readonly namespace: string
  readonly serviceAccount: string
  readonly expiresAt: string
  /** A kubeconfig with the token: a secret, given once, never logged. */
  readonly kubeconfig: string
}

export interface SpotPlatform extends IComputePlatform {
  /** The same adapter, its answers recorded in `db` (a message handler's transaction). */
  within(db: Queryable): IComputePlatform
  /** Watches the environment's rollout until it is complete, then answers its status. */
  rollout(envId: string, timeoutMs: number): Promise<Outcome<EnvironmentStatus>>
  /**
   * Puts secrets' values in the environment's namespace, a Kubernetes Secret each (named as the
   * workload refers to them), all tried first; answers their names. The values are not kept here.
   */
  writeSecrets(envId: string, secrets: readonly DeliveredSecret[]): Promise<Outcome<{ names: string[] }>>
  /** Runs an app's earlier revision again (a Deployment's ReplicaSet history), as a new revision. */
  rollback(request: {
    key: string
    envId: string
    app: string
    revision: number
  }): Promise<Outcome<DeploymentOutcome>>
  /** A kubeconfig for the environment's ServiceAccount with a TokenRequest token; not-found for another tenant's. */
  credentials(envId: string, tenantId: string, ttlSeconds: number): Promise<Outcome<EnvironmentCredentials>>
  /** The pods of an environment's workloads: uid, name, owner. */
  pods(envId: string): Promise<{ namespace: string; pods: { uid: string; name: string; app: string }[] }>
  /** The tenant an environment belongs to, or undefined when there is none. */
  ownerOf(envId: string): Promise<string | undefined>
  /** Whether the API server answers (readyz). */
  probe(): Promise<Outcome<undefined>>
  /** Forgets the answers of calls made before `olderThan`. */
  forget(olderThan: Date): Promise<number>
  /** The API requests made so far. */
  requests(): number
  /** Ends every wait (rollouts, deletions): the process is stopping. */
  close(): void
}

const workloadKinds = ['Deployment', 'StatefulSet'] as const
const byApp = (app: string) => `${Label.name}=${app},${Label.managedBy}=${managedBy}`
const managed = `${Label.managedBy}=${managedBy}`

/** The ownership labels of an environment's objects, from its namespace's annotations. */
const ownerOf = (namespace: KubeObject) => {
  const a = namespace.metadata.annotations ?? {}
  return ownerLabels({
    tenantId: a[Annotation.tenantId] ?? '',
    projectId: a[Annotation.projectId] ?? '',
    envId: a[Annotation.envId] ?? '',
  })
}

/**
 * The RXT Spot adapter: an environment is a namespace on a Kubernetes cluster. Every object is
 * applied with server-side apply under the adapter's field manager, so the same request twice gives
 * the same objects; what an apply would change is first tried as a dry run, so a refusal changes
 * nothing. The cluster holds the state (labels and annotations); the database holds only answers by key.
 */
export function createSpotPlatform(
  deps: { db: Queryable; clock: Clock },
  options: SpotOptions,
): SpotPlatform {
  const { kube, cluster } = options
  const ledger = createLedger(deps.clock)
  const destroyTimeoutMs = options.destroyTimeoutMs ?? 300_000

  /** The namespace of an environment, found by its label (the annotation guards against a digest clash). */
  const namespaceFor = async (envId: string): Promise<KubeObject | undefined> =>
    (await kube.list('v1', 'Namespace', undefined, environmentSelector(envId))).find(
      (n) => n.metadata.annotations?.[Annotation.envId] === envId,
    )
  const terminating = (namespace: KubeObject) =>
    (namespace as { status?: { phase?: string } }).status?.phase === 'Terminating'
  const absent = (envId: string) =>
    failed<never>(failure(FailureCode.notFound, `${spotProviderName} has no environment ${envId}`))
  const deleting = (namespace: KubeObject) =>
    failed<never>(
      failure(
        FailureCode.unavailable,
        `namespace ${namespace.metadata.name} is still being deleted; try again when it is gone`,
      ),
    )

  /** Applies objects, all tried as a dry run first: one refusal and nothing is changed. */
  const applyAll = async (objects: KubeObject[]): Promise<KubeObject[]> => {
    await Promise.all(objects.map((o) => kube.apply(o, { dryRun: true })))
    return Promise.all(objects.map((o) => kube.apply(o)))
  }
  const guarded = async <T>(step: string, work: () => Promise<Outcome<T>>): Promise<Outcome<T>> => {
    try {
      return await work()
    } catch (error) {
      // The cluster's answers are typed failures; anything else is a bug in the adapter, and throws.
      if (!isPlatformError(error)) throw error
      return failed(failureOf(error, step))
    }
  }
  const workloadsIn = async (namespace: string, selector = managed) =>
    (await Promise.all(workloadKinds.map((kind) => kube.list('apps/v1', kind, namespace, selector)))).flat()

  const provision = (request: ProvisionRequest) =>
    guarded('namespace', async (): Promise<Outcome<EnvironmentOutcome>> => {
      const limit = options.planLimits?.(request.tenantId)
      if (limit !== undefined) {
        const over = (['cpu', 'memoryMiB', 'storageGiB'] as const).filter((k) => request.quota[k] > limit[k])
        if (over.length > 0)
          return failed(
            failure(
              FailureCode.rejected,
              `the quota asks for more ${over.join(', ')} than the tenant's plan allows (${over.map((k) => `${k} ${limit[k]}`).join(', ')})`,
              'quota',
            ),
          )
      }
      const name = namespaceOf(request)
      const existing = await namespaceFor(request.envId)
      if (existing !== undefined && existing.metadata.name !== name)
        return failed(
          failure(
            FailureCode.conflict,
            `${request.envId} is provisioned as namespace ${existing.metadata.name}, not ${name}`,
          ),
        )
      const named = existing ?? (await kube.read({ apiVersion: 'v1', kind: 'Namespace', name }))
      if (named !== undefined) {
        if (named.metadata.annotations?.[Annotation.envId] !== request.envId)
          return failed(failure(FailureCode.conflict, `namespace ${name} belongs to another environment`))
        if (terminating(named)) return deleting(named)
      }
      const [namespace, ...rest] = environmentObjects(request, cluster)
      if (namespace === undefined) throw new Error('an environment without a namespace')
      await kube.apply(namespace)
      try {
        // No dry run here (nothing can be tried in a namespace not made yet): a refusal removes the namespace.
        await Promise.all(rest.map((o) => kube.apply(o)))
      } catch (error) {
        // Nothing half-made: a namespace made by this call goes again.
        if (named === undefined)
          await kube.remove({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => false)
        return failed(failureOf(error, 'environment'))
      }
      return succeeded({
        envId: request.envId,
        platformId: name,
        resources: [namespace, ...rest].map(refOf),
      })
    })

  /** Deploys a request as the given revision number (a rollback passes its own objects). */
  const deploy = (request: DeployRequest) =>
    guarded('workload', async (): Promise<Outcome<DeploymentOutcome>> => {
      // A StatefulSet's name goes into its pods' controller-revision-hash label, which allows 63 characters.
      if (request.stateful && request.app.length > maxWorkloadNameLength)
        return failed(
          failure(
            FailureCode.invalid,
            `a stateful application's name may have at most ${maxWorkloadNameLength} characters; ${request.app} has ${request.app.length}`,
            'workload',
          ),
        )
      const namespace = await namespaceFor(request.envId)
      if (namespace === undefined) return absent(request.envId)
      if (terminating(namespace)) return deleting(namespace)
      const ns = namespace.metadata.name
      const kind = request.stateful ? 'StatefulSet' : 'Deployment'
      const other = request.stateful ? 'Deployment' : 'StatefulSet'
      const ref = (k: string): ObjectRef => ({
        apiVersion: 'apps/v1',
        kind: k,
        name: request.app,
        namespace: ns,
      })
      const [current, clash, autoscaler] = await Promise.all([
        kube.read(ref(kind)),
        kube.read(ref(other)),
        kube.read({
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          name: request.app,
          namespace: ns,
        }),
      ])
      if (clash !== undefined)
        return failed(
          failure(
            FailureCode.conflict,
            `${request.app} runs as a ${other} in ${ns}; it cannot become a ${kind} in place`,
            'workload',
          ),
        )
      const { key: _key, ...asked } = request
      const digest = requestDigest(asked)
      const before = current === undefined ? 0 : revisionOf(current)
      const same = current?.metadata.annotations?.[Annotation.requestDigest] === digest
      const revision = same ? before : before + 1
      const objects = workloadObjects(ns, request, revision, digest, {
        autoscaled: autoscaler !== undefined,
        owner: ownerOf(namespace),
      })
      // Every object tried first; then the workload, and what serves it only once the workload is in.
      await Promise.all(objects.map((o) => kube.apply(o, { dryRun: true })))
      const workload = objects.filter((o) => o.kind === kind)
      const applied = [
        ...(await Promise.all(workload.map((o) => kube.apply(o)))),
        ...(await Promise.all(objects.filter((o) => o.kind !== kind).map((o) => kube.apply(o)))),
      ]
      if (request.ports.length === 0)
        await kube.remove({
          apiVersion: 'v1',
          kind: 'Service',
          name: serviceNames(request.app).service,
          namespace: ns,
        })
      return succeeded({
        envId: request.envId,
        revision,
        image: request.image,
        replicas: request.replicas,
        endpoints: request.ports.map((p) => ({
          name: p.name,
          host: `${request.app}.${ns}.svc.cluster.local`,
          port: p.port,
          protocol: p.protocol,
        })),
        resources: applied.map(refOf),
      })
    })

  /**
   * Why hostnames may not be this namespace's, if they may not: a name under the provider's base domain
   * that is another namespace's, or a host another namespace's Ingress serves.
   */
  const claimedElsewhere = async (ns: string, hostnames: readonly string[]): Promise<string | undefined> => {
    const base = `.${cluster.baseDomain}`
    const foreign = hostnames.find((h) => h.endsWith(base) && !h.endsWith(`-${ns}${base}`))
    if (foreign !== undefined)
      return `${foreign} is under ${cluster.baseDomain} but not this environment's name there`
    const ingresses = await kube.list('networking.k8s.io/v1', 'Ingress', undefined, managed)
    for (const ingress of ingresses) {
      if (ingress.metadata.namespace === ns) continue
      const hosts = ((ingress as { spec?: { rules?: { host?: string }[] } }).spec?.rules ?? []).map(
        (r) => r.host,
      )
      const taken = hostnames.find((h) => hosts.includes(h))
      if (taken !== undefined) return `${taken} is served by another environment`
    }
    return undefined
  }

  const network = (spec: NetworkSpec) =>
    guarded('ingress', async (): Promise<Outcome<NetworkOutcome>> => {
      const namespace = await namespaceFor(spec.envId)
      if (namespace === undefined) return absent(spec.envId)
      if (terminating(namespace)) return deleting(namespace)
      const ns = namespace.metadata.name
      // The application the spec names; else the environment's one (the first by name).
      const [workload] = (await workloadsIn(ns))
        .filter((w) => spec.app === undefined || w.metadata.name === spec.app)
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      if (workload === undefined)
        return failed(
          failure(
            FailureCode.conflict,
            spec.app === undefined
              ? `nothing is deployed to ${spec.envId} to route to`
              : `${spec.app} is not deployed to ${spec.envId}: there is nothing to route to`,
            'ingress',
          ),
        )
      const app = workload.metadata.name
      const hostnames = hostnamesOf(spec, app, ns, cluster)
      const claimed = await claimedElsewhere(ns, hostnames)
      if (claimed !== undefined) return failed(failure(FailureCode.conflict, claimed, 'ingress'))
      const objects = networkObjects(ns, app, spec, hostnames, cluster, ownerOf(namespace))
      const applied = await applyAll(objects)
      // What this spec no longer asks for goes.
      const wanted = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`))
      const stale: ObjectRef[] = [
        { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: app, namespace: ns },
        { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name: `${app}-tls`, namespace: ns },
        { apiVersion: 'v1', kind: 'Service', name: serviceNames(app).public, namespace: ns },
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          name: serviceNames(app).public,
          namespace: ns,
        },
        { apiVersion: 'v1', kind: 'Service', name: serviceNames(app).ingress, namespace: ns },
      ]
      await Promise.all(stale.filter((r) => !wanted.has(`${r.kind}/${r.name}`)).map((r) => kube.remove(r)))
      const certificate = applied.find((o) => o.kind === 'Certificate') as
        | (KubeObject & { metadata: { creationTimestamp?: string }; status?: { notAfter?: string } })
        | undefined
      const exposed = applied.find(
        (o) => o.kind === 'Ingress' || (o.kind === 'Service' && o.metadata.name === serviceNames(app).public),
      ) as
        | (KubeObject & { status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } })
        | undefined
      const lb = exposed?.status?.loadBalancer?.ingress?.[0]
      const scheme = spec.tls === 'off' ? 'http' : 'https'
      return succeeded({
        envId: spec.envId,
        urls:
          spec.visibility === 'private' || spec.protocol === 'tcp'
            ? []
            : hostnames.map((h) => `${scheme}://${h}/`),
        vip: lb?.ip ?? null,
        tls:
          spec.tls !== 'off' && spec.certificateRef !== undefined && spec.visibility === 'public'
            ? { issuer: `provided (${spec.certificateRef})`, expiresAt: null }
            : certificate === undefined
              ? null
              : {
                  issuer: `cert-manager ClusterIssuer ${cluster.clusterIssuer}`,
                  // Until cert-manager issues it, the expiry it will have.
                  expiresAt:
                    certificate.status?.notAfter ??
                    new Date(
                      Date.parse(certificate.metadata.creationTimestamp ?? deps.clock.now().toISOString()) +
                        certificateDuration.hours * 3_600_000,
                    ).toISOString(),
                },
        resources: applied.map(refOf),
      })
    })

  const scale = (spec: ScaleSpec) =>
    guarded('scale', async (): Promise<Outcome<ScaleOutcome>> => {
      if (spec.autoscaling !== null && spec.autoscaling.minReplicas > spec.autoscaling.maxReplicas)
        return failed(failure(FailureCode.invalid, 'autoscaling: minReplicas is above maxReplicas'))
      const namespace = await namespaceFor(spec.envId)
      if (namespace === undefined) return absent(spec.envId)
      if (terminating(namespace)) return deleting(namespace)
      const ns = namespace.metadata.name
      const workloads = await workloadsIn(ns)
      if (workloads.length === 0)
        return failed(failure(FailureCode.conflict, `nothing is deployed to ${spec.envId} to scale`, 'scale'))
      for (const workload of workloads) {
        const { replicas, autoscaler } = scaleObjects(
          ns,
          { kind: workload.kind, name: workload.metadata.name },
          spec,
          ownerOf(namespace),
        )
        await kube.apply(replicas, { fieldManager: FieldManager.scale, dryRun: true })
        if (autoscaler !== undefined) await kube.apply(autoscaler, { dryRun: true })
        await kube.apply(replicas, { fieldManager: FieldManager.scale })
        if (autoscaler !== undefined) await kube.apply(autoscaler)
        else
          await kube.remove({
            apiVersion: 'autoscaling/v2',
            kind: 'HorizontalPodAutoscaler',
            name: workload.metadata.name,
            namespace: ns,
          })
      }
      return succeeded({ envId: spec.envId, replicas: spec.replicas, autoscaling: spec.autoscaling })
    })

  const destroy = (request: DestroyRequest) =>
    guarded('namespace', async (): Promise<Outcome<DestroyOutcome>> => {
      const namespace = await namespaceFor(request.envId)
      if (namespace === undefined) return succeeded({ envId: request.envId, existed: false })
      const name = namespace.metadata.name
      // A namespace already being deleted (a destroy that timed out before) is waited for again.
      if (!terminating(namespace)) await kube.remove({ apiVersion: 'v1', kind: 'Namespace', name })
      await kube.watchUntil(
        { apiVersion: 'v1', kind: 'Namespace', name, path: '/api/v1/namespaces' },
        (object) => object === undefined,
        destroyTimeoutMs,
      )
      return succeeded({ envId: request.envId, existed: true })
    })

  const status = async (envId: string): Promise<Outcome<EnvironmentStatus>> => {
    if (typeof envId !== 'string' || envId.length === 0 || envId.length > 128)
      return failed(failure(FailureCode.invalid, 'envId must be an environment id'))
    return guarded('status', async () => {
      const namespace = await namespaceFor(envId)
      if (namespace === undefined)
        return succeeded({
          envId,
          phase: 'absent' as const,
          message: `${spotProviderName} has no environment ${envId}`,
          revision: null,
          image: null,
          replicas: { desired: 0, ready: 0 },
          urls: [],
          healthy: false,
          resources: [],
        })
      const ns = namespace.metadata.name
      const list = (apiVersion: string, kind: string) => kube.list(apiVersion, kind, ns, managed)
      const [workloads, ingresses, ...others] = await Promise.all([
        workloadsIn(ns),
        list('networking.k8s.io/v1', 'Ingress'),
        list('v1', 'Service'),
        list('v1', 'PersistentVolumeClaim'),
        list('autoscaling/v2', 'HorizontalPodAutoscaler'),
        list('cert-manager.io/v1', 'Certificate'),
      ])
      return succeeded(statusOf(envId, namespace, { workloads, ingresses, others: others.flat() }))
    })
  }

  const platformOn = (db: Queryable): IComputePlatform => ({
    name: spotProviderName,
    kind: 'k8s',
    provisionEnvironment: (r) =>
      ledger.once(db, 'provisionEnvironment', ProvisionRequest, r, () => provision(r)),
    deployApplication: (r) => ledger.once(db, 'deployApplication', DeployRequest, r, () => deploy(r)),
    configureNetwork: (r) => ledger.once(db, 'configureNetwork', NetworkSpec, r, () => network(r)),
    scaleResources: (r) => ledger.once(db, 'scaleResources', ScaleSpec, r, () => scale(r)),
    getStatus: status,
    destroyEnvironment: (r) => ledger.once(db, 'destroyEnvironment', DestroyRequest, r, () => destroy(r)),
  })

  return {
    ...platformOn(deps.db),
    within: platformOn,

    writeSecrets: (envId, secrets) =>
      guarded('secrets', async () => {
        const namespace = await namespaceFor(envId)
        if (namespace === undefined) return absent(envId)
        if (terminating(namespace)) return deleting(namespace)
        const objects = secrets.map((secret) =>
          secretObject(namespace.metadata.name, secret, ownerOf(namespace)),
        )
        await applyAll(objects)
        return succeeded({ names: objects.map((o) => o.metadata.name) })
      }),

    rollout: (envId, timeoutMs) =>
      guarded('rollout', async () => {
        const namespace = await namespaceFor(envId)
        if (namespace === undefined) return absent(envId)
        const ns = namespace.metadata.name
        // One deadline for all; a workload stops the wait when it rolls out, stalls or goes.
        const deadline = Date.now() + timeoutMs
        for (const workload of await workloadsIn(ns)) {
          const plural = workload.kind === 'Deployment' ? 'deployments' : 'statefulsets'
          await kube.watchUntil(
            {
              apiVersion: 'apps/v1',
              kind: workload.kind,
              name: workload.metadata.name,
              namespace: ns,
              path: `/apis/apps/v1/namespaces/${ns}/${plural}`,
            },
            (object) => object === undefined || rolledOut(object) || stalled(object) !== undefined,
            Math.max(1, deadline - Date.now()),
          )
        }
        return status(envId)
      }),

    rollback: (request) =>
      ledger.once(deps.db, 'rollback', RollbackRequest, request, () =>
        guarded('rollback', async (): Promise<Outcome<DeploymentOutcome>> => {
          const namespace = await namespaceFor(request.envId)
          if (namespace === undefined) return absent(request.envId)
          const ns = namespace.metadata.name
          // Each pod template keeps the request it was rendered from: deploying it again is the rollback.
          const history = (
            await Promise.all(
              ['ReplicaSet', 'ControllerRevision'].map((kind) =>
                kube.list('apps/v1', kind, ns, byApp(request.app)),
              ),
            )
          ).flat()
          const earlier = requestAt(history, request.revision)
          if (earlier === undefined)
            return failed(
              failure(
                FailureCode.notFound,
                `${request.app} has no revision ${request.revision} left to roll back to`,
                'rollback',
              ),
            )
          return deploy({ ...earlier, key: request.key })
        }),
      ),

    credentials: (envId, tenantId, ttlSeconds) =>
      guarded('credentials', async (): Promise<Outcome<EnvironmentCredentials>> => {
        const namespace = await namespaceFor(envId)
        // Another tenant's environment is not there for this one.
        if (namespace === undefined || namespace.metadata.annotations?.[Annotation.tenantId] !== tenantId)
          return absent(envId)
        if (terminating(namespace)) return deleting(namespace)
        const ns = namespace.metadata.name
        const { token, expiresAt } = await kube.requestToken(ns, EnvObject.serviceAccount, ttlSeconds)
        return succeeded({
          namespace: ns,
          serviceAccount: EnvObject.serviceAccount,
          expiresAt,
          kubeconfig: kubeconfigFor(spotProviderName, kube.cluster, ns, token),
        })
      }),

    async pods(envId) {
      const namespace = await namespaceFor(envId)
      if (namespace === undefined) return { namespace: '', pods: [] }
      const ns = namespace.metadata.name
      const pods = await kube.list('v1', 'Pod', ns, managed)
      return {
        namespace: ns,
        pods: pods.map((p) => ({
          uid: (p.metadata as { uid?: string }).uid ?? p.metadata.name,
          name: p.metadata.name,
          app: p.metadata.labels?.[Label.name] ?? '',
        })),
      }
    },

    ownerOf: async (envId) => (await namespaceFor(envId))?.metadata.annotations?.[Annotation.tenantId],

    probe: () =>
      guarded('probe', async () => {
        await kube.list('v1', 'Namespace', undefined, environmentSelector('rxt-probe'))
        return succeeded(undefined)
      }),
    forget: (olderThan) => ledger.forget(deps.db, olderThan),
    requests: kube.requests,
    close: kube.close,
  }
}

const RollbackRequest = closedObject({
  key: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$' }),
  envId: idField('The environment'),
  app: slugField('The application'),
  revision: Type.Integer({ minimum: 1 }),
})
