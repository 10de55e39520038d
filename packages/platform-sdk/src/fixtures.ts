import type { DeployRequest, NetworkSpec, ProvisionRequest, ScaleSpec } from './compute-platform.ts'

/**
 * The conformance suite's requests, for one run (`run` keeps runs apart on a shared platform): one
 * environment provisioned, deployed, updated, scaled, networked and destroyed. Adapters' own tests
 * may use them too.
 */
export function conformanceRequests(run: string) {
  const envId = `env-conformance-${run}`
  const provision: ProvisionRequest = {
    key: `provision-${run}`,
    tenantId: 'tnt-conformance',
    projectId: 'prj-conformance',
    envId,
    name: `conformance-${run}`,
    quota: { cpu: 4, memoryMiB: 8192, storageGiB: 20 },
    labels: { purpose: 'conformance' },
  }
  const deploy: DeployRequest = {
    key: `deploy-1-${run}`,
    envId,
    app: 'shop',
    image:
      'registry.example/acme/shop@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    replicas: 2,
    resources: { cpu: 0.5, memoryMiB: 256 },
    ports: [{ name: 'http', port: 8080, protocol: 'http' }],
    env: { LOG_LEVEL: 'info' },
    secrets: [{ env: 'DATABASE_URL', ref: 'secret://shop/database-url' }],
    healthCheck: { path: '/healthz', port: 8080 },
    stateful: false,
    volumes: [],
  }
  const update: DeployRequest = {
    ...deploy,
    key: `deploy-2-${run}`,
    image:
      'registry.example/acme/shop@sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03',
    env: { LOG_LEVEL: 'debug' },
  }
  const scale: ScaleSpec = {
    key: `scale-${run}`,
    envId,
    replicas: 3,
    autoscaling: { minReplicas: 3, maxReplicas: 6, targetCpuPercent: 70 },
  }
  const network: NetworkSpec = {
    key: `network-${run}`,
    envId,
    visibility: 'public',
    hostnames: [`shop-${run}.conformance.example`],
    tls: 'required',
    port: 8080,
    protocol: 'http',
  }
  return { envId, provision, deploy, update, scale, network, destroy: { key: `destroy-${run}`, envId } }
}
