import { createHash } from 'node:crypto'
import type { DeployPlan, DeployRequest } from '@rxt/contracts'
import { canonical } from '@rxt/contracts/manifest'
import { ownerLabels, type PlanRenderer, type RenderedPlan } from '@rxt/platform-sdk'
import { environmentObjects } from './environment.ts'
import type { KubeObject } from './kube-object.ts'
import { namespaceOf } from './names.ts'
import { hostnamesOf, networkObjects } from './network.ts'
import { clusterSettingsOf } from './settings.ts'
import { workloadObjects } from './workload.ts'

/** The digest of a deploy request without its key: what says two deploys ask for the same thing. */
export const requestDigest = (asked: Omit<DeployRequest, 'key'>): string =>
  createHash('sha256').update(canonical(asked)).digest('hex')

/** One line for a person per object: its kind and name, and what matters most about it. */
function describe(object: KubeObject): string {
  const spec = (object.spec ?? {}) as Record<string, unknown>
  const name = `${object.kind} ${object.metadata.name}`
  switch (object.kind) {
    case 'Namespace':
      return `${name}: the environment, labelled with its tenant, project and environment`
    case 'ResourceQuota': {
      const hard = spec.hard as Record<string, string>
      return `${name}: ${hard['requests.cpu']} CPU, ${hard['requests.memory']} memory, ${hard['requests.storage']} storage`
    }
    case 'Deployment':
    case 'StatefulSet': {
      const containers = (spec.template as { spec: { containers: { image: string }[] } }).spec.containers
      const count =
        spec.replicas === undefined ? 'replicas as its autoscaler sets them' : `${spec.replicas} replicas`
      return `${name}: ${count} of ${containers.map((c) => c.image).join(', ')}`
    }
    case 'Ingress': {
      const rules = (spec.rules ?? []) as { host: string }[]
      return `${name}: ${rules.map((r) => r.host).join(', ')}${spec.tls === undefined ? ' (no TLS)' : ' with TLS'}`
    }
    case 'Service':
      return `${name} (${String(spec.type ?? 'ClusterIP')}${spec.clusterIP === 'None' ? ', headless' : ''})`
    default:
      return name
  }
}

/**
 * RXT Spot's renderer: a plan as the Kubernetes objects the adapter applies — the environment's
 * namespace and guards when provisioning, the workload (as its first revision) when deploying, the
 * ingress or load balancer when networking. Pure: the same plan gives the same objects.
 */
export function renderSpotPlan(plan: DeployPlan): RenderedPlan & {
  environment: KubeObject[]
  workload: KubeObject[]
  network: KubeObject[]
} {
  const cluster = clusterSettingsOf(plan.settings)
  const namespace = namespaceOf(plan.provision)
  const { key: _key, ...asked } = plan.deploy
  const environment = environmentObjects(plan.provision, cluster)
  const owner = ownerLabels(plan.provision)
  const workload = workloadObjects(namespace, plan.deploy, 1, requestDigest(asked), {
    autoscaled: false,
    owner,
  })
  const app = plan.deploy.app
  const network =
    plan.network === null
      ? []
      : networkObjects(
          namespace,
          app,
          plan.network,
          hostnamesOf(plan.network, app, namespace, cluster),
          cluster,
          owner,
        )
  return {
    environment,
    workload,
    network,
    summary: [...environment, ...workload, ...network].map(describe),
  }
}

/** The renderer of the rxt-spot family, contributed to the platform SDK's `planRenderers`. */
export const spotRenderer: PlanRenderer = { platform: 'rxt-spot', render: renderSpotPlan }
