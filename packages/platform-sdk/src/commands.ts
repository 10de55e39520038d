import type {
  SddcNetworkConfigure,
  SddcProvisionRequest,
  SpotNetworkConfigure,
  SpotProvisionRequest,
} from '@rxt/contracts'
import type {
  DeploymentOutcome,
  DeployRequest,
  EnvironmentOutcome,
  IComputePlatform,
  NetworkOutcome,
  NetworkSpec,
  Outcome,
  PlatformFailure,
  ProvisionRequest,
} from './compute-platform.ts'

/**
 * The platform commands (cmd.spot.*, cmd.sddc.*) as SDK calls, and their answers as events: what
 * every adapter's command handlers share.
 */

/** Where answers go: a message handler's context, which publishes in its transaction. */
export interface Answers {
  publish(message: {
    type: string
    tenantId: string
    key: string
    data: Record<string, unknown>
  }): Promise<unknown>
}

/** A DNS label made of a name. */
const label = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63) || 'env'

/** The environment a provision command asks for, under the deployment's key. */
const environmentOf = (
  command: { deploymentId: string; tenantId: string; projectId: string; envId: string },
  name: string,
  quota: ProvisionRequest['quota'],
): ProvisionRequest => ({
  key: `${command.deploymentId}:provision`,
  tenantId: command.tenantId,
  projectId: command.projectId,
  envId: command.envId,
  name: label(name),
  quota,
})

/** A deploy of one image with no ports, env or checks: what a provision command says of the workload. */
const imageDeploy = (
  command: { deploymentId: string; envId: string; artifactRef: string },
  app: string,
  replicas: number,
  resources: DeployRequest['resources'],
  stateful: boolean,
): DeployRequest => ({
  key: `${command.deploymentId}:deploy`,
  envId: command.envId,
  app: label(app),
  image: command.artifactRef,
  replicas,
  resources,
  ports: [],
  env: {},
  secrets: [],
  healthCheck: null,
  stateful,
  volumes: [],
})

/** The pods a rolling update may add beside the replicas (25%, rounded up). */
const surge = (replicas: number) => Math.ceil(replicas / 4)

/** The SDK calls a spot command stands for: the namespace as the environment, the workload in it. */
export function fromSpot(command: SpotProvisionRequest): {
  provision: ProvisionRequest
  deploy: DeployRequest
} {
  const { replicas, cpuMillicores, memoryMiB, storageGiB } = command.resources
  const workload = command.k8sManifests.objects.find(
    (o) => o.kind === 'Deployment' || o.kind === 'StatefulSet',
  )
  return {
    // Room for a rolling update's extra pods (a quarter more, at least one) beside the replicas.
    provision: environmentOf(command, command.namespace, {
      cpu: Math.max(0.1, (cpuMillicores * (replicas + surge(replicas))) / 1000),
      memoryMiB: Math.max(64, memoryMiB * (replicas + surge(replicas))),
      storageGiB,
    }),
    deploy: imageDeploy(
      command,
      workload?.name ?? 'app',
      replicas,
      { cpu: Math.max(0.01, cpuMillicores / 1000), memoryMiB },
      workload?.kind === 'StatefulSet',
    ),
  }
}

/** The SDK calls an sddc command stands for: the VM folder as the environment, its VMs as replicas. */
export function fromSddc(command: SddcProvisionRequest): {
  provision: ProvisionRequest
  deploy: DeployRequest
} {
  const spec = command.vmSpecs[0] as SddcProvisionRequest['vmSpecs'][number]
  return {
    provision: environmentOf(command, command.resources.folder, {
      cpu: spec.cpu * spec.count,
      memoryMiB: spec.memoryMiB * spec.count,
      storageGiB: spec.diskGiB * spec.count,
    }),
    deploy: imageDeploy(command, spec.name, spec.count, { cpu: spec.cpu, memoryMiB: spec.memoryMiB }, false),
  }
}

/** How an adapter answers a command: outcome events naming the deployment, family and provider. */
function answerer(
  ctx: Answers,
  platform: IComputePlatform,
  family: 'rxt-spot' | 'sddc-flex',
  command: { envId: string; deploymentId: string },
  tenantId: string,
) {
  const common = {
    envId: command.envId,
    deploymentId: command.deploymentId,
    platform: family,
    provider: platform.name,
  }
  const publish = (type: string, data: Record<string, unknown>) =>
    ctx.publish({ type, tenantId, key: command.envId, data: { ...common, ...data } })
  return {
    succeeded: publish,
    failed: (type: 'evt.provision.failed' | 'evt.network.failed', failure: PlatformFailure) =>
      publish(type, {
        reason:
          `${platform.name}${platform.name.startsWith('sim-') ? ' (simulated)' : ''}: ${failure.message}`.slice(
            0,
            2000,
          ),
        retryable: failure.retryable,
      }),
  }
}

/**
 * Runs a provision command (provision, then deploy) and answers it: evt.provisioned with what the
 * platform holds, or evt.provision.failed with the platform's reason and whether a retry can help.
 */
export async function runProvision(
  ctx: Answers,
  platform: IComputePlatform,
  family: 'rxt-spot' | 'sddc-flex',
  command: { tenantId: string; envId: string; deploymentId: string },
  calls: { provision: ProvisionRequest; deploy: DeployRequest },
): Promise<{ provisioned: EnvironmentOutcome; deployed: DeploymentOutcome } | undefined> {
  const answer = answerer(ctx, platform, family, command, command.tenantId)
  const provisioned = await platform.provisionEnvironment(calls.provision)
  if (!provisioned.ok) return void (await answer.failed('evt.provision.failed', provisioned.failure))
  const deployed = await platform.deployApplication(calls.deploy)
  if (!deployed.ok) return void (await answer.failed('evt.provision.failed', deployed.failure))
  await answer.succeeded('evt.provisioned', {
    resourceIds: [...provisioned.value.resources, ...deployed.value.resources].map(
      (r) => `${r.kind}:${r.id}`,
    ),
    endpoints: deployed.value.endpoints.map((e) => ({
      name: e.name,
      host: e.host,
      port: e.port,
      protocol: e.protocol === 'websocket' ? 'http' : e.protocol,
    })),
  })
  return { provisioned: provisioned.value, deployed: deployed.value }
}

/** Runs a network command and answers evt.network.ready or evt.network.failed. */
export async function runNetwork(
  ctx: Answers,
  platform: IComputePlatform,
  family: 'rxt-spot' | 'sddc-flex',
  command: { envId: string; deploymentId: string },
  tenantId: string,
  spec: NetworkSpec,
): Promise<NetworkOutcome | undefined> {
  const answer = answerer(ctx, platform, family, command, tenantId)
  const outcome = await platform.configureNetwork(spec)
  if (!outcome.ok) return void (await answer.failed('evt.network.failed', outcome.failure))
  await answer.succeeded('evt.network.ready', {
    hostnames: [...new Set(outcome.value.urls.map((u) => new URL(u).hostname))],
    vip: outcome.value.vip,
  })
  return outcome.value
}

/** The SDK call a spot network command stands for: public when anything is exposed. */
export function fromSpotNetwork(command: SpotNetworkConfigure): NetworkSpec {
  const rule = command.ingressRules[0]
  return {
    key: `${command.deploymentId}:network`,
    envId: command.envId,
    visibility: command.ingressRules.length > 0 || command.serviceLB !== null ? 'public' : 'private',
    hostnames: [...new Set(command.ingressRules.map((r) => r.host))],
    tls: command.tls.mode === 'none' ? 'off' : 'required',
    ...(command.tls.mode === 'provided' && command.tls.certificateRef !== null
      ? { certificateRef: command.tls.certificateRef }
      : {}),
    port: rule?.servicePort ?? command.serviceLB?.targetPort ?? 80,
    protocol: rule === undefined && command.serviceLB !== null ? 'tcp' : 'http',
  }
}

/** The SDK call an sddc network command stands for: public when the firewall admits anyone. */
export function fromSddcNetwork(command: SddcNetworkConfigure): NetworkSpec {
  return {
    key: `${command.deploymentId}:network`,
    envId: command.envId,
    visibility: command.firewallRules.some((r) => r.sources.includes('0.0.0.0/0')) ? 'public' : 'private',
    hostnames: [...new Set(command.dns.records.map((r) => r.name))],
    tls: command.tls.mode === 'none' ? 'off' : 'required',
    ...(command.tls.mode === 'provided' && command.tls.certificateRef !== null
      ? { certificateRef: command.tls.certificateRef }
      : {}),
    port: command.nsxLB?.memberPort ?? 80,
    protocol: 'http',
  }
}

/**
 * Probes a provider and words its health report (evt.provider.health): healthy when the probe
 * succeeded, with how long it took; `what` names what answered, for people.
 */
export async function healthReport(
  provider: string,
  what: string,
  probe: () => Promise<Outcome<unknown>>,
  options: { now: () => Date; intervalMs: number },
): Promise<{ type: 'evt.provider.health'; tenantId: null; key: string; data: Record<string, unknown> }> {
  const started = performance.now()
  const outcome = await probe()
  return {
    type: 'evt.provider.health',
    tenantId: null,
    key: provider,
    data: {
      provider,
      healthy: outcome.ok,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      message: outcome.ok ? `${what} answered` : `${what} failed its probe: ${outcome.failure.message}`,
      checkedAt: options.now().toISOString(),
      intervalMs: options.intervalMs,
    },
  }
}
