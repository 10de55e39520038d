import { randomBytes } from 'node:crypto'
import { AuthorizationV1Api, KubeConfig } from '@kubernetes/client-node'
import { type Database, loadMigrations, systemClock } from '@rxt/kit'
import { type DbTarget, dbTargets, type TestDatabase } from '@rxt/kit/testing'
import {
  Annotation,
  conformanceRequests,
  FailureCode,
  Label,
  type ResourceRef,
  secretName,
} from '@rxt/platform-sdk'
import { describeComputePlatformConformance } from '@rxt/platform-sdk/conformance'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Kube } from './kube.ts'
import type { KubeObject } from './render/index.ts'
import { createSpotPlatform, type SpotPlatform } from './spot-platform.ts'
import {
  forbiddenImages,
  prepareCluster,
  refuseForbiddenImages,
  spotKubeconfigPath,
  testSettings,
} from './test-cluster.ts'

const kubeconfigPath = inject('kubeconfigPath')
const skipped = inject('kubeSkipReason') || undefined
const migrations = () => loadMigrations(new URL('../migrations/', import.meta.url))
const openSpot = async (database: Database) => database.openContext('spot', await migrations())
/** Namespace deletion waits for KWOK to remove the pods: seconds alone, a minute or more under a full run. */
const waitMs = 150_000

/** Whether the cluster still holds a resource the adapter named (`ns/name` or a namespace's name). */
const exists = async (kube: Kube, ref: ResourceRef) => {
  const [namespace, name] = ref.id.includes('/') ? ref.id.split('/') : [undefined, ref.id]
  const apiVersion =
    {
      Namespace: 'v1',
      ResourceQuota: 'v1',
      LimitRange: 'v1',
      ServiceAccount: 'v1',
      Service: 'v1',
      PersistentVolumeClaim: 'v1',
      Role: 'rbac.authorization.k8s.io/v1',
      RoleBinding: 'rbac.authorization.k8s.io/v1',
      NetworkPolicy: 'networking.k8s.io/v1',
      Ingress: 'networking.k8s.io/v1',
      Deployment: 'apps/v1',
      StatefulSet: 'apps/v1',
      HorizontalPodAutoscaler: 'autoscaling/v2',
      Certificate: 'cert-manager.io/v1',
    }[ref.kind] ?? 'v1'
  return (
    (await kube.read({
      apiVersion,
      kind: ref.kind,
      name: name as string,
      ...(namespace ? { namespace } : {}),
    })) !== undefined
  )
}

for (const target of dbTargets()) {
  let handle: TestDatabase
  let admin: Kube
  describeComputePlatformConformance({
    name: `rxt-spot on the local Kubernetes control plane, answers kept on ${target.name}`,
    ...((skipped ?? target.skipped) === undefined ? {} : { skipped: skipped ?? target.skipped }),
    setup: async () => {
      handle = await target.create()
      const cluster = await prepareCluster(kubeconfigPath)
      admin = cluster.admin
      const platform = createSpotPlatform(
        { db: await openSpot(handle.database), clock: systemClock },
        { kube: cluster.adapter, cluster: testSettings, destroyTimeoutMs: waitMs },
      )
      return { platform, teardown: () => handle.dispose() }
    },
    // Read from the cluster with the admin's eyes, not the adapter's.
    leftovers: async (_envId, resources) => {
      let left = 0
      for (const ref of resources) if (await exists(admin, ref)) left++
      return left
    },
    readyTimeoutMs: waitMs,
  })
}

describe.skipIf(skipped !== undefined)('the RXT Spot adapter on the local Kubernetes control plane', () => {
  let handle: TestDatabase
  let admin: Kube
  let spot: SpotPlatform
  const run = randomBytes(3).toString('hex')
  const requests = (name: string) => {
    const r = conformanceRequests(`${name}-${run}`)
    return { ...r, provision: { ...r.provision, tenantId: `tnt-${name}` } }
  }
  const ok = <T>(outcome: { ok: true; value: T } | { ok: false; failure: { message: string } }): T => {
    if (!outcome.ok) throw new Error(`expected success: ${outcome.failure.message}`)
    return outcome.value
  }
  const provisioned: string[] = []

  beforeAll(async () => {
    handle = await (dbTargets()[0] as DbTarget).create()
    const cluster = await prepareCluster(kubeconfigPath)
    admin = cluster.admin
    spot = createSpotPlatform(
      { db: await openSpot(handle.database), clock: systemClock },
      { kube: cluster.adapter, cluster: testSettings, destroyTimeoutMs: waitMs },
    )
  })
  afterAll(async () => {
    await Promise.all(provisioned.map((envId) => spot.destroyEnvironment({ key: `cleanup-${envId}`, envId })))
    spot?.close()
    await handle?.dispose()
  }, waitMs + 30_000)

  const provision = async (name: string) => {
    const r = requests(name)
    provisioned.push(r.envId)
    return { r, env: ok(await spot.provisionEnvironment(r.provision)) }
  }

  it('makes a labelled namespace with quota, limits, an identity and default-deny policies; twice is the same', async () => {
    const { r, env } = await provision('twice')
    const ns = env.platformId
    const namespace = (await admin.read({ apiVersion: 'v1', kind: 'Namespace', name: ns })) as KubeObject
    expect(namespace.metadata.labels).toMatchObject({
      [Label.tenant]: 'tnt-twice',
      [Label.project]: 'prj-conformance',
      [Label.environment]: r.envId,
      [Label.managedBy]: 'rxt-deploy',
    })
    const quota = (await admin.read({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      name: 'rxt-quota',
      namespace: ns,
    })) as {
      spec: { hard: Record<string, string> }
    } & KubeObject
    expect(quota.spec.hard).toMatchObject({
      'requests.cpu': '4',
      'limits.memory': '8Gi',
      'requests.storage': '20Gi',
    })
    const policies = await admin.list('networking.k8s.io/v1', 'NetworkPolicy', ns)
    const deny = policies.find((p) => p.metadata.name === 'rxt-default-deny') as KubeObject & {
      spec: { podSelector: object; policyTypes: string[] }
    }
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] })
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([
      'rxt-allow-dns',
      'rxt-allow-ingress-controller',
      'rxt-allow-same-namespace',
      'rxt-default-deny',
    ])

    // The same request under another key: the same objects, unchanged, no second namespace.
    const versions = async () =>
      Object.fromEntries(
        (
          await Promise.all(
            [
              ['v1', 'ResourceQuota'],
              ['v1', 'LimitRange'],
              ['v1', 'ServiceAccount'],
              ['networking.k8s.io/v1', 'NetworkPolicy'],
              ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
            ].map(([v, k]) => admin.list(v as string, k as string, ns, `${Label.managedBy}=rxt-deploy`)),
          )
        )
          .flat()
          .map((o) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]),
      )
    const before = await versions()
    const again = ok(await spot.provisionEnvironment({ ...r.provision, key: `${r.provision.key}-again` }))
    expect(again).toEqual(env)
    expect(await versions()).toEqual(before)
    const namespaces = await admin.list('v1', 'Namespace', undefined, `${Label.environment}=${r.envId}`)
    expect(namespaces.map((n) => n.metadata.name)).toEqual([ns])
  })

  it('writes the Secrets a workload reads, named as it refers to them, and the adapter cannot read them back', async () => {
    const { r, env } = await provision('secrets')
    const ns = env.platformId
    const value = `postgres://app:${randomBytes(12).toString('hex')}@db:5432/shop`
    const written = ok(
      await spot.writeSecrets(r.envId, [
        { ref: 'secret://db/url', version: 3, value },
        { ref: 'secret://api.key', version: 1, value: 'k' },
      ]),
    )
    expect(written.names).toEqual([secretName('secret://db/url'), secretName('secret://api.key')])
    const secret = (await admin.read({
      apiVersion: 'v1',
      kind: 'Secret',
      name: secretName('secret://db/url'),
      namespace: ns,
    })) as KubeObject & { data: Record<string, string>; type: string }
    expect(Buffer.from(secret.data.value as string, 'base64').toString('utf8')).toBe(value)
    expect(secret.type).toBe('Opaque')
    expect(secret.metadata.labels).toMatchObject({
      [Label.tenant]: 'tnt-secrets',
      [Label.managedBy]: 'rxt-deploy',
    })
    expect(secret.metadata.annotations).toMatchObject({
      'rxt-deploy/secret-ref': 'secret://db/url',
      'rxt-deploy/secret-version': '3',
    })
    // A new version replaces the value in place.
    ok(await spot.writeSecrets(r.envId, [{ ref: 'secret://db/url', version: 4, value: 'rotated' }]))
    const rotated = (await admin.read({
      apiVersion: 'v1',
      kind: 'Secret',
      name: secretName('secret://db/url'),
      namespace: ns,
    })) as KubeObject & { data: Record<string, string> }
    expect(Buffer.from(rotated.data.value as string, 'base64').toString('utf8')).toBe('rotated')
    // Its RBAC writes Secrets and reads none.
    const review = new KubeConfig()
    review.loadFromFile(spotKubeconfigPath)
    const access = review.makeApiClient(AuthorizationV1Api)
    const can = async (verb: string) =>
      (
        await access.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { namespace: ns, verb, resource: 'secrets' } } },
        })
      ).status?.allowed
    expect(await can('patch')).toBe(true)
    expect(await can('get')).toBe(false)
    expect(await can('list')).toBe(false)
    // No environment: nothing written, and said.
    const none = await spot.writeSecrets('env-none', [{ ref: 'secret://db/url', version: 1, value }])
    expect(none.ok).toBe(false)
    if (!none.ok) {
      expect(none.failure.code).toBe(FailureCode.notFound)
      expect(none.failure.message).not.toContain(value)
    }
  })

  it("keeps one environment's token out of another's namespace, and read-only in its own", async () => {
    const a = await provision('iso-a')
    const b = await provision('iso-b')
    const issued = ok(await spot.credentials(a.r.envId, 'tnt-iso-a', 600))
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeLessThanOrEqual(600_000 + 5_000)
    // Another tenant asking for a's credentials finds nothing.
    expect(await spot.credentials(a.r.envId, 'tnt-iso-b', 600)).toMatchObject({
      ok: false,
      failure: { code: FailureCode.notFound },
    })
    const kc = new KubeConfig()
    kc.loadFromString(issued.kubeconfig)
    const authz = kc.makeApiClient(AuthorizationV1Api)
    const may = async (namespace: string, verb: string, resource: string) =>
      (
        await authz.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { namespace, verb, resource } } },
        })
      ).status?.allowed
    expect(await may(a.env.platformId, 'list', 'pods')).toBe(true)
    expect(await may(b.env.platformId, 'list', 'pods')).toBe(false)
    expect(await may(b.env.platformId, 'delete', 'deployments')).toBe(false)
    expect(await may(a.env.platformId, 'get', 'secrets')).toBe(false)
    expect(await may(a.env.platformId, 'create', 'deployments')).toBe(false)
    // And a real request is refused.
    const server = kc.getCurrentCluster()?.server as string
    const token = /token: "([^"]+)"/.exec(issued.kubeconfig)?.[1] as string
    const { api } = await import('../../../tools/peers/cluster.ts')
    expect(server).toContain('127.0.0.1')
    expect((await api(token, `/api/v1/namespaces/${b.env.platformId}/pods`)).status).toBe(403)
    expect((await api(token, `/api/v1/namespaces/${a.env.platformId}/pods`)).status).toBe(200)
    expect((await api(token, `/api/v1/namespaces/${a.env.platformId}/secrets`)).status).toBe(403)
  })

  it(
    'gives what the API server refuses back with its message, and leaves nothing half-made',
    async () => {
      const { r, env } = await provision('refused')
      // An admission policy of the cluster's operator: no image from registry.forbidden.
      const removePolicy = await refuseForbiddenImages(admin, `rxt-test-no-forbidden-${run}`, {
        [Label.environment]: r.envId,
      })
      let refused = {
        ...r.deploy,
        image: 'registry.forbidden/shop:1',
        volumes: [{ name: 'data', mountPath: '/data', sizeGiB: 1 }],
      }
      try {
        // The policy takes a moment to be seen by the API server.
        let outcome = await spot.deployApplication(refused)
        for (let i = 0; i < 50 && outcome.ok; i++) {
          ok(await spot.destroyEnvironment({ key: `undo-${i}-${run}`, envId: r.envId }))
          ok(await spot.provisionEnvironment({ ...r.provision, key: `re-${i}-${run}` }))
          await new Promise((resolve) => setTimeout(resolve, 200))
          refused = { ...refused, key: `${r.deploy.key}-${i}` }
          outcome = await spot.deployApplication(refused)
        }
        expect(outcome).toMatchObject({
          ok: false,
          failure: { code: FailureCode.rejected, retryable: false },
        })
        expect(outcome.ok ? '' : outcome.failure.message).toContain(forbiddenImages)
        for (const [v, k] of [
          ['apps/v1', 'Deployment'],
          ['v1', 'Service'],
          ['v1', 'PersistentVolumeClaim'],
        ] as const)
          expect(await admin.list(v, k, env.platformId)).toEqual([])
      } finally {
        await removePolicy()
      }
      // A failure is not the key's answer: allowed again, the same key deploys.
      let again = await spot.deployApplication(refused)
      for (let i = 0; i < 50 && !again.ok; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        again = await spot.deployApplication(refused)
      }
      expect(again).toMatchObject({ ok: true, value: { image: 'registry.forbidden/shop:1' } })
    },
    waitMs,
  )

  it('keeps the adapter inside the namespaces it manages, whatever its RBAC allows', async () => {
    const { adapter } = await prepareCluster(kubeconfigPath)
    /** The status the API server refuses with, once the admission policy is in force (it takes a moment). */
    const refusal = async (attempt: () => Promise<unknown>) => {
      for (let i = 0; ; i++) {
        const code = await attempt().then(
          () => 200,
          (error: { code?: number }) => error.code,
        )
        if (code === 403 || i >= 50) return code
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
    // kube-system's default ServiceAccount exists; the adapter may ask for tokens, but not there.
    expect(await refusal(() => adapter.requestToken('kube-system', 'default', 600))).toBe(403)
    expect(
      await refusal(() =>
        adapter.apply(
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'x', namespace: 'default' },
            spec: { ports: [{ port: 80 }] },
          },
          { dryRun: true },
        ),
      ),
    ).toBe(403)
  })

  it(
    'runs pods on KWOK nodes, watches the rollout to Ready with its URL, and rolls back by revision',
    async () => {
      const { r, env } = await provision('rollout')
      const first = ok(await spot.deployApplication(r.deploy))
      ok(await spot.configureNetwork(r.network))
      const ready = ok(await spot.rollout(r.envId, waitMs))
      expect(ready).toMatchObject({
        phase: 'ready',
        healthy: true,
        revision: 1,
        urls: [`https://${r.network.hostnames[0]}/`],
      })
      const pods = await admin.list('v1', 'Pod', env.platformId)
      expect(pods).toHaveLength(2)
      for (const pod of pods as (KubeObject & { spec: { nodeName: string }; status: { phase: string } })[]) {
        expect(pod.spec.nodeName).toMatch(/^kwok-node-/)
        expect(pod.status.phase).toBe('Running')
      }
      ok(await spot.deployApplication(r.update))
      expect(ok(await spot.rollout(r.envId, waitMs))).toMatchObject({ revision: 2, image: r.update.image })
      const back = ok(
        await spot.rollback({ key: `rollback-${run}`, envId: r.envId, app: r.deploy.app, revision: 1 }),
      )
      expect(back).toMatchObject({ revision: 3, image: first.image })
      const after = ok(await spot.rollout(r.envId, waitMs))
      expect(after).toMatchObject({ phase: 'ready', revision: 3, image: r.deploy.image })
      const deployment = (await admin.read({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'shop',
        namespace: env.platformId,
      })) as KubeObject & {
        spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } }
      }
      expect(deployment.spec.template.spec.containers[0]?.env).toContainEqual({
        name: 'LOG_LEVEL',
        value: 'info',
      })
      expect(deployment.metadata.annotations?.[Annotation.revision]).toBe('3')
      // What a later deploy leaves out is gone: the rollback owns nothing the next deploy does not set.
      ok(await spot.deployApplication({ ...r.update, key: `deploy-4-${run}`, env: {}, healthCheck: null }))
      const fourth = (await admin.read({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'shop',
        namespace: env.platformId,
      })) as KubeObject & {
        spec: { template: { spec: { containers: { env?: { name: string }[]; readinessProbe?: object }[] } } }
      }
      const container = fourth.spec.template.spec.containers[0]
      expect(container?.env?.map((e) => e.name)).toEqual(['DATABASE_URL'])
      expect(container?.readinessProbe).toBeUndefined()
      // Another environment may not take this one's hostname, nor a name under the base domain of it.
      const other = await provision('rollout-other')
      ok(await spot.deployApplication(other.r.deploy))
      expect(
        await spot.configureNetwork({ ...other.r.network, hostnames: r.network.hostnames }),
      ).toMatchObject({
        ok: false,
        failure: { code: FailureCode.conflict },
      })
      expect(
        await spot.configureNetwork({
          ...other.r.network,
          key: `${other.r.network.key}-base`,
          hostnames: [`shop-${env.platformId}.rxt-spot.internal`],
        }),
      ).toMatchObject({ ok: false, failure: { code: FailureCode.conflict } })
      expect(
        await spot.rollback({ key: `rollback-none-${run}`, envId: r.envId, app: 'shop', revision: 99 }),
      ).toMatchObject({
        ok: false,
        failure: { code: FailureCode.notFound },
      })
    },
    waitMs * 2,
  )

  it('runs a stateful app as a StatefulSet with claims, scales it under an autoscaler, and offers TCP through a load balancer', async () => {
    const { r, env } = await provision('stateful')
    const deployed = ok(
      await spot.deployApplication({
        ...r.deploy,
        stateful: true,
        volumes: [{ name: 'data', mountPath: '/var/lib/data', sizeGiB: 2 }],
      }),
    )
    expect(deployed.resources.map((x) => x.kind)).toContain('StatefulSet')
    const set = (await admin.read({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: 'shop',
      namespace: env.platformId,
    })) as KubeObject & {
      spec: { volumeClaimTemplates: { metadata: { name: string } }[] }
    }
    expect(set.spec.volumeClaimTemplates.map((c) => c.metadata.name)).toEqual(['data'])
    ok(await spot.scaleResources(r.scale))
    const hpa = (await admin.read({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      name: 'shop',
      namespace: env.platformId,
    })) as KubeObject & {
      spec: { minReplicas: number; maxReplicas: number; scaleTargetRef: { kind: string } }
    }
    expect(hpa.spec).toMatchObject({
      minReplicas: 3,
      maxReplicas: 6,
      scaleTargetRef: { kind: 'StatefulSet' },
    })
    const tcp = ok(await spot.configureNetwork({ ...r.network, protocol: 'tcp', tls: 'off', port: 8080 }))
    expect(tcp.urls).toEqual([])
    const lb = (await admin.read({
      apiVersion: 'v1',
      kind: 'Service',
      name: 'shop-public',
      namespace: env.platformId,
    })) as KubeObject & {
      spec: { type: string }
    }
    expect(lb.spec.type).toBe('LoadBalancer')
    // A StatefulSet rolls back too: its ControllerRevisions keep each revision's request.
    ok(
      await spot.deployApplication({
        ...r.update,
        stateful: true,
        volumes: [{ name: 'data', mountPath: '/var/lib/data', sizeGiB: 2 }],
      }),
    )
    const back = ok(
      await spot.rollback({ key: `rollback-set-${run}`, envId: r.envId, app: 'shop', revision: 1 }),
    )
    expect(back).toMatchObject({ revision: 3, image: r.deploy.image })
    const rolled = (await admin.read({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: 'shop',
      namespace: env.platformId,
    })) as KubeObject & { spec: { template: { spec: { containers: { image: string }[] } } } }
    expect(rolled.spec.template.spec.containers[0]?.image).toBe(r.deploy.image)
    // Without autoscaling the autoscaler goes.
    ok(await spot.scaleResources({ ...r.scale, key: `${r.scale.key}-fixed`, replicas: 1, autoscaling: null }))
    expect(
      await admin.read({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        name: 'shop',
        namespace: env.platformId,
      }),
    ).toBeUndefined()
  })
})
