import {
  Label,
  labelValue,
  managedBy,
  named,
  type ProvisionRequest,
  platformName,
  serviceName,
} from '@rxt/platform-sdk'

/** Names of the objects every environment has. */
export const EnvObject = {
  quota: 'rxt-quota',
  limits: 'rxt-limits',
  /** The environment's identity: the kubeconfig broker's tokens are for it. */
  serviceAccount: 'rxt-env',
  denyAll: 'rxt-default-deny',
  sameNamespace: 'rxt-allow-same-namespace',
  dns: 'rxt-allow-dns',
  ingressController: 'rxt-allow-ingress-controller',
} as const

/** The label selecting an environment's namespace. */
export const environmentSelector = (envId: string) => `${Label.environment}=${labelValue(envId)}`

/**
 * The namespace of an environment: the SDK's platform name of it (its name, `-` and 8 hex of
 * sha256(`<tenantId>/<envId>`)), so two tenants' environments never meet in a cluster.
 */
export const namespaceOf = (request: Pick<ProvisionRequest, 'name' | 'tenantId' | 'envId'>) =>
  platformName(request)

/** The Services of an app, each a DNS-1035 label as the API server demands. */
export const serviceNames = (app: string) => ({
  /** Its ports, in the cluster (headless for a StatefulSet). */
  service: serviceName(app),
  /** The Ingress's backend. */
  ingress: serviceName(named(app, 'ingress')),
  /** A public TCP load balancer. */
  public: serviceName(named(app, 'public')),
})

/**
 * The ClusterRole an environment's identity is bound to in its namespace (deploy/rbac.yaml): read its
 * workloads, logs and events, nothing else. A ClusterRole bound per namespace, so the adapter needs only
 * `bind` on it, not every permission it grants.
 */
export const environmentReader = 'rxt-deploy:environment-reader'

/** CPU and memory quantities as the adapter writes them. */
export const cpu = (vcpus: number) => `${Math.round(vcpus * 1000)}m`
export const memory = (mib: number) => `${mib}Mi`

/** The labels a workload's pods carry, and its selector. */
export const appLabels = (app: string) => ({ [Label.name]: app, [Label.managedBy]: managedBy })
