import type { Clock, Queryable } from '@rxt/kit'
import {
  createLedger,
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
import {
  deploymentOutcome,
  digestOf,
  type EnvState,
  type EnvVm,
  Field,
  failureOfError,
  guestOf,
  hostnamesOf,
  type Located,
  parseVmName,
  quotaRefusal,
  ResizeSpec,
  type SddcNetworking,
  type SddcSettings,
  sddcProviderName,
  stateOf,
  vmHost,
  vmName,
  vmShape,
} from './environment.ts'
import { segmentAddress } from './networking.ts'
import { NsxError } from './nsx/index.ts'
import { type VimClient, VimError } from './vim/client.ts'
import { retrieve, retrieveUnder } from './vim/collector.ts'
import { createInventory, type Nic, type PortGroup } from './vim/inventory.ts'
import { asList, field, type Ref, text } from './vim/xml.ts'

export {
  type EnvironmentScope,
  ResizeSpec,
  type SddcNetworking,
  type SddcSettings,
  sddcProviderName,
  vmShape,
} from './environment.ts'

export interface SddcPlatform extends IComputePlatform {
  /** The tenant an environment belongs to, read from vCenter; undefined when it does not exist. */
  ownerOf(envId: string): Promise<string | undefined>
  /** The VMs of an environment (its folder's), with their power state. */
  vms(envId: string): Promise<readonly EnvVm[]>
  /** cmd.sddc.scale: the VM count, and a new VM size rolled out as a new revision. */
  resize(spec: ResizeSpec): Promise<Outcome<ScaleOutcome>>
}

/**
 * SDDC Flex on vCenter: an environment is a VM folder (its state in the folder's custom attributes),
 * a resource pool limited to its memory quota, and a distributed port group (its segment); a deploy
 * is a VM per replica cloned from the template, configured through `guestinfo` (image, environment,
 * ports) and powered on; networking is NSX's (`networking`).
 */
export function createSddcPlatform(
  deps: { db: Queryable; clock: Clock },
  options: {
    client: VimClient
    settings: SddcSettings
    networking: SddcNetworking
    /** Told before RXT Deploy powers a VM off or destroys it, and why (the follower's evt.vm.stopped reason). */
    onStopping?: (vmId: string, reason: string) => void
  },
): SddcPlatform {
  const { client, settings, networking } = options
  /** Destroys VMs of the adapter's, saying why first. */
  const retire = (vms: readonly EnvVm[], reason: string) =>
    Promise.all(
      vms.map((vm) => {
        options.onStopping?.(vm.ref.value, reason)
        return inventory.destroy(vm.ref)
      }),
    )
  const inventory = createInventory(client, { taskTimeoutMs: settings.taskTimeoutMs })
  const ledger = createLedger(deps.clock)
  const dc = settings.datacenter
  const located = new Map<string, Ref>()

  /** The objects every environment uses, found once (a setting that names nothing is a clear failure). */
  let base:
    | Promise<{
        root: Ref
        template: Ref
        nic: Nic | undefined
        clusterPool: Ref
        datastore: Ref
        dvs: Ref
        fields: Record<keyof typeof Field, number>
      }>
    | undefined
  const baseOf = () => {
    base ??= (async () => {
      const vmFolder = await inventory.require(`${dc}/vm`, 'datacenter VM folder (SDDC_DATACENTER)')
      const template = await inventory.require(`${dc}/vm/${settings.template}`, 'template (SDDC_TEMPLATE)')
      const [root, nic, clusterPool, datastore, dvs, env, tenant, state] = await Promise.all([
        inventory.folder(vmFolder, settings.folder),
        inventory.nicOf(template),
        inventory.require(`${dc}/host/${settings.cluster}/Resources`, 'cluster (SDDC_CLUSTER)'),
        inventory.require(`${dc}/datastore/${settings.datastore}`, 'datastore (SDDC_DATASTORE)'),
        inventory.require(`${dc}/network/${settings.switch}`, 'distributed switch (SDDC_SWITCH)'),
        inventory.customField(Field.env),
        inventory.customField(Field.tenant),
        inventory.customField(Field.state),
      ])
      return { root, template, nic, clusterPool, datastore, dvs, fields: { env, tenant, state } }
    })()
    base.catch(() => {
      base = undefined
    })
    return base
  }

  /** An environment's folder and state: from the folder this process knows, else found by its rxt.env attribute. */
  const locate = async (envId: string): Promise<Located | undefined> => {
    const { root, fields } = await baseOf()
    const known = located.get(envId)
    if (known !== undefined) {
      const [found] = await retrieve(client, 'Folder', [known], ['customValue'])
      const state = found === undefined ? undefined : stateOf(found.props.customValue, fields.state)
      if (state !== undefined && state.envId === envId) return { folder: known, state }
      located.delete(envId)
    }
    const folders = await retrieveUnder(client, root, 'Folder', ['customValue'])
    for (const f of folders) {
      const state = stateOf(f.props.customValue, fields.state)
      if (state?.envId === envId) {
        located.set(envId, f.ref)
        return { folder: f.ref, state }
      }
    }
    return undefined
  }

  const writeState = async (folder: Ref, state: EnvState) => {
    const { fields } = await baseOf()
    await inventory.setField(folder, fields.state, JSON.stringify(state))
  }

  const vmsIn = async (folder: Ref, scope: string): Promise<EnvVm[]> =>
    (await retrieveUnder(client, folder, 'VirtualMachine', ['name', 'runtime.powerState']))
      .flatMap((vm) => {
        const parsed = parseVmName(scope, text(vm.props.name))
        if (parsed === undefined) return []
        return [
          {
            ref: vm.ref,
            folder: folder.value,
            name: text(vm.props.name),
            ...parsed,
            poweredOn: text(vm.props['runtime.powerState']) === 'poweredOn',
            ip: segmentAddress(settings.segmentGateway, vmHost(parsed.revision, parsed.index)),
          },
        ]
      })
      .sort((a, b) => a.revision - b.revision || a.index - b.index)

  const poolOf = (scope: string) => inventory.find(`${dc}/host/${settings.cluster}/Resources/${scope}`)
  const portGroupOf = async (scope: string): Promise<PortGroup> => {
    const { dvs } = await baseOf()
    return inventory.portGroup(dvs, scope, `${dc}/network`)
  }

  /** A call's work, its vCenter and NSX errors as typed failures. */
  const guarded = async <T>(step: string, work: () => Promise<Outcome<T>>): Promise<Outcome<T>> => {
    try {
      return await work()
    } catch (error) {
      const typed = failureOfError(error, step)
      if (typed === undefined) throw error
      return failed(typed)
    }
  }
  const absent = (envId: string) =>
    failed<never>(
      failure(FailureCode.notFound, `environment ${envId} is not provisioned on ${sddcProviderName}`),
    )

  const envResources = (folder: Ref, pool: Ref | undefined, pg: PortGroup | undefined): ResourceRef[] => [
    { kind: 'Folder', id: folder.value },
    ...(pool === undefined ? [] : [{ kind: 'ResourcePool', id: pool.value }]),
    ...(pg === undefined ? [] : [{ kind: 'DistributedVirtualPortgroup', id: pg.ref.value }]),
  ]

  const provision = (request: ProvisionRequest) =>
    guarded('provision', async (): Promise<Outcome<EnvironmentOutcome>> => {
      const { root, fields } = await baseOf()
      const scope = platformName(request)
      const digest = digestOf({ ...request, key: undefined })
      const existing = await locate(request.envId)
      if (existing !== undefined && existing.state.tenantId !== request.tenantId)
        return failed(failure(FailureCode.conflict, `environment ${request.envId} belongs to another tenant`))
      const folder = existing?.folder ?? (await inventory.folder(root, scope))
      const { clusterPool } = await baseOf()
      const [pool, pg] = await Promise.all([
        inventory.resourcePool(clusterPool, scope, request.quota.memoryMiB),
        portGroupOf(scope),
      ])
      if (existing === undefined) {
        await inventory.setField(folder, fields.tenant, request.tenantId)
        await inventory.setField(folder, fields.env, request.envId)
        await writeState(folder, {
          v: 1,
          tenantId: request.tenantId,
          projectId: request.projectId,
          envId: request.envId,
          scope,
          quota: request.quota,
          provisionDigest: digest,
        })
        located.set(request.envId, folder)
      }
      return succeeded({
        envId: request.envId,
        platformId: `${settings.folder}/${scope}`,
        resources: envResources(folder, pool, pg),
      })
    })

  /** Clones `indices` VMs of a revision, powered on, in parallel; on a failure, the ones made are destroyed. */
  const cloneVms = async (
    env: Located,
    revision: number,
    indices: readonly number[],
    shape: { cpu: number; memoryMiB: number },
    guest: Record<string, string>,
  ) => {
    const { template, datastore, nic } = await baseOf()
    const pool = await poolOf(env.state.scope)
    if (pool === undefined)
      throw new VimError('fault', `the resource pool of ${env.state.scope} is gone`, 'NotFound')
    const pg = await portGroupOf(env.state.scope)
    const made: Ref[] = []
    const results = await Promise.allSettled(
      indices.map(async (index) => {
        const vm = await inventory.clone(
          template,
          { folder: env.folder, pool, datastore },
          vmName(env.state.scope, revision, index),
          {
            numCPUs: shape.cpu,
            memoryMB: shape.memoryMiB,
            annotation: `RXT Deploy: environment ${env.state.envId}, revision ${revision}`,
            extraConfig: {
              ...guest,
              'guestinfo.rxt.revision': String(revision),
              'guestinfo.rxt.ip': `${segmentAddress(settings.segmentGateway, vmHost(revision, index))}/${settings.segmentGateway.split('/')[1] ?? '24'}`,
            },
            ...(nic === undefined ? {} : { network: { nic, portGroup: pg } }),
          },
          true,
        )
        made.push(vm)
      }),
    )
    const rejected = results.find((r) => r.status === 'rejected')
    if (rejected !== undefined) {
      await Promise.all(made.map((vm) => inventory.destroy(vm).catch(() => undefined)))
      throw (rejected as PromiseRejectedResult).reason
    }
  }

  const deploy = (request: DeployRequest) =>
    guarded('deploy', async (): Promise<Outcome<DeploymentOutcome>> => {
      const env = await locate(request.envId)
      if (env === undefined) return absent(request.envId)
      const digest = digestOf({ ...request, key: undefined })
      const current = env.state.deploy
      const vms = await vmsIn(env.folder, env.state.scope)
      if (current?.digest === digest) {
        // Deployed: what an interrupted call left of another revision goes now.
        await retire(
          vms.filter((vm) => vm.revision !== current.revision),
          `undeployed: replaced by revision ${current.revision}`,
        )
        return succeeded(
          deploymentOutcome(
            env.state,
            vms.filter((vm) => vm.revision === current.revision),
            settings.baseDomain,
          ),
        )
      }
      const shape = vmShape(request.resources)
      const replicas =
        env.state.autoscaling === undefined || env.state.autoscaling === null
          ? request.replicas
          : Math.max(request.replicas, env.state.autoscaling.minReplicas)
      const refused = quotaRefusal(env.state, replicas, request.resources)
      if (refused !== undefined) return refused
      const revision = (current?.revision ?? 0) + 1
      // A revision an earlier, interrupted deploy left is not this one: its VMs go first.
      await retire(
        vms.filter((vm) => vm.revision >= revision),
        'undeployed: left by an interrupted deploy',
      )
      await cloneVms(
        env,
        revision,
        Array.from({ length: replicas }, (_, i) => i),
        shape,
        guestOf(request),
      )
      const state: EnvState = {
        ...env.state,
        deploy: {
          revision,
          digest,
          app: request.app,
          image: request.image,
          replicas,
          cpu: shape.cpu,
          memoryMiB: shape.memoryMiB,
          asked: request.resources,
          guest: guestOf(request),
          ports: request.ports,
        },
      }
      // The state names the new revision: from here on it is the environment's, and the old one goes.
      await writeState(env.folder, state)
      await retire(
        vms.filter((vm) => vm.revision < revision),
        `undeployed: replaced by revision ${revision}`,
      )
      return succeeded(
        deploymentOutcome(state, await vmsIn(env.folder, env.state.scope), settings.baseDomain),
      )
    })

  /** What a VM of the environment was given in guestinfo (the deploy's), to give new VMs of its revision. */
  const guestFrom = async (vm: EnvVm | undefined): Promise<Record<string, string>> => {
    if (vm === undefined) return {}
    const [read] = await retrieve(client, 'VirtualMachine', [vm.ref], ['config.extraConfig'])
    return Object.fromEntries(
      asList(read?.props['config.extraConfig'])
        .map((o) => [text(field(o, 'key')), text(field(o, 'value'))] as const)
        .filter(
          ([k]) =>
            k.startsWith('guestinfo.rxt.') && k !== 'guestinfo.rxt.revision' && k !== 'guestinfo.rxt.ip',
        ),
    )
  }

  const resize = (spec: ResizeSpec) =>
    guarded('scale', async (): Promise<Outcome<ScaleOutcome>> => {
      const env = await locate(spec.envId)
      if (env === undefined) return absent(spec.envId)
      const current = env.state.deploy
      if (current === undefined)
        return failed(
          failure(FailureCode.conflict, `environment ${spec.envId} has nothing deployed to scale`),
        )
      const autoscaling = env.state.autoscaling ?? null
      if (current.cpu === spec.cpu && current.memoryMiB === spec.memoryMiB)
        return scale({ key: spec.key, envId: spec.envId, replicas: spec.replicas, autoscaling })
      const shape = { cpu: spec.cpu, memoryMiB: spec.memoryMiB }
      const refused = quotaRefusal(env.state, spec.replicas, shape)
      if (refused !== undefined) return refused
      // A new size is a new revision: its VMs are cloned at that size, then the old ones go.
      const vms = await vmsIn(env.folder, env.state.scope)
      const revision = current.revision + 1
      const guest = current.guest ?? (await guestFrom(vms.find((vm) => vm.revision === current.revision)))
      await retire(
        vms.filter((vm) => vm.revision >= revision),
        'undeployed: left by an interrupted deploy',
      )
      await cloneVms(
        env,
        revision,
        Array.from({ length: spec.replicas }, (_, i) => i),
        shape,
        guest,
      )
      const state = {
        ...env.state,
        deploy: {
          ...current,
          ...shape,
          asked: shape,
          revision,
          replicas: spec.replicas,
          digest: `resized:${spec.key}`,
        },
      }
      await writeState(env.folder, state)
      await rebalance({ folder: env.folder, state })
      await retire(
        vms.filter((vm) => vm.revision < revision),
        `undeployed: resized by revision ${revision}`,
      )
      return succeeded({ envId: spec.envId, replicas: spec.replicas, autoscaling })
    })

  const scale = (spec: ScaleSpec) =>
    guarded('scale', async (): Promise<Outcome<ScaleOutcome>> => {
      if (spec.autoscaling !== null && spec.autoscaling.minReplicas > spec.autoscaling.maxReplicas)
        return failed(failure(FailureCode.invalid, 'autoscaling: minReplicas is above maxReplicas'))
      const env = await locate(spec.envId)
      if (env === undefined) return absent(spec.envId)
      const current = env.state.deploy
      if (current === undefined)
        return failed(
          failure(FailureCode.conflict, `environment ${spec.envId} has nothing deployed to scale`),
        )
      // No autoscaler runs VMs: the fewest VMs it allows run, and the range is kept for what reads it.
      const replicas =
        spec.autoscaling === null ? spec.replicas : Math.max(spec.replicas, spec.autoscaling.minReplicas)
      const refused = quotaRefusal(env.state, replicas, current.asked ?? current)
      if (refused !== undefined) return refused
      const vms = (await vmsIn(env.folder, env.state.scope)).filter((vm) => vm.revision === current.revision)
      const have = new Set(vms.map((vm) => vm.index))
      const missing = Array.from({ length: replicas }, (_, i) => i).filter((i) => !have.has(i))
      if (missing.length > 0) {
        const guest = current.guest ?? (await guestFrom(vms[0]))
        await cloneVms(env, current.revision, missing, current, guest)
      }
      await Promise.all(
        vms.filter((vm) => vm.index < replicas && !vm.poweredOn).map((vm) => inventory.powerOn(vm.ref)),
      )
      const state = { ...env.state, deploy: { ...current, replicas }, autoscaling: spec.autoscaling }
      await writeState(env.folder, state)
      // The load balancer takes the new members before the VMs scaled away go.
      await rebalance({ folder: env.folder, state })
      await retire(
        vms.filter((vm) => vm.index >= replicas),
        'scaled down',
      )
      return succeeded({ envId: spec.envId, replicas, autoscaling: spec.autoscaling })
    })

  /** The load balancer's members made the VMs of the current revision again, when the environment has one. */
  const rebalance = async (env: Located) => {
    const network = env.state.network
    if (network === undefined) return
    const vms = (await vmsIn(env.folder, env.state.scope)).filter(
      (vm) => vm.revision === env.state.deploy?.revision && vm.index < (env.state.deploy?.replicas ?? 0),
    )
    const applied = await networking.configure(
      env.state,
      network.spec,
      hostnamesOf(env.state, network.spec, settings.baseDomain),
      vms.map((vm) => ({ name: vm.name, ip: vm.ip })),
    )
    if (!applied.ok) throw new NsxError(applied.failure.code, applied.failure.message)
  }

  const network = (spec: NetworkSpec) =>
    guarded('network', async (): Promise<Outcome<NetworkOutcome>> => {
      const env = await locate(spec.envId)
      if (env === undefined) return absent(spec.envId)
      const hostnames = hostnamesOf(env.state, spec, settings.baseDomain)
      const vms = (await vmsIn(env.folder, env.state.scope)).filter(
        (vm) => vm.revision === env.state.deploy?.revision,
      )
      const applied = await networking.configure(
        env.state,
        spec,
        hostnames,
        vms.map((vm) => ({ name: vm.name, ip: vm.ip })),
      )
      if (!applied.ok) return applied
      const scheme = spec.tls === 'off' ? 'http' : 'https'
      const urls =
        spec.visibility === 'private' || spec.protocol === 'tcp'
          ? []
          : hostnames.map((h) => `${scheme}://${h}/`)
      await writeState(env.folder, {
        ...env.state,
        network: { urls, vip: applied.value.vip, tls: applied.value.tls, spec },
      })
      return succeeded({
        envId: spec.envId,
        urls,
        vip: applied.value.vip,
        tls: applied.value.tls,
        resources: applied.value.resources,
      })
    })

  const status = (envId: string) =>
    guarded('status', async (): Promise<Outcome<EnvironmentStatus>> => {
      const env = await locate(envId)
      if (env === undefined)
        return succeeded({
          envId,
          phase: 'absent',
          message: `no folder of environment ${envId} in vCenter`,
          revision: null,
          image: null,
          replicas: { desired: 0, ready: 0 },
          urls: [],
          healthy: false,
          resources: [],
        })
      const [vms, pool] = await Promise.all([vmsIn(env.folder, env.state.scope), poolOf(env.state.scope)])
      const pg = await inventory.find(`${dc}/network/${env.state.scope}`)
      const resources = [
        ...envResources(env.folder, pool, undefined),
        ...(pg === undefined ? [] : [{ kind: 'DistributedVirtualPortgroup', id: pg.value }]),
        ...vms.map((vm) => ({ kind: 'VirtualMachine', id: vm.ref.value })),
      ]
      const d = env.state.deploy
      const urls = env.state.network?.urls ?? []
      if (d === undefined)
        return succeeded({
          envId,
          phase: 'provisioned',
          message: 'folder, resource pool and segment ready; nothing deployed',
          revision: null,
          image: null,
          replicas: { desired: 0, ready: 0 },
          urls,
          healthy: false,
          resources,
        })
      const current = vms.filter((vm) => vm.revision === d.revision)
      const ready = current.filter((vm) => vm.poweredOn && vm.index < d.replicas).length
      const others = vms.length - current.length
      const phase = ready >= d.replicas ? (others > 0 ? 'progressing' : 'ready') : 'degraded'
      return succeeded({
        envId,
        phase,
        message:
          phase === 'ready'
            ? `${ready} of ${d.replicas} VMs of revision ${d.revision} powered on`
            : phase === 'progressing'
              ? `revision ${d.revision} is up; ${others} VMs of an earlier revision are being removed`
              : `${ready} of ${d.replicas} VMs of revision ${d.revision} powered on`,
        revision: d.revision,
        image: d.image,
        replicas: { desired: d.replicas, ready },
        urls,
        healthy: ready >= d.replicas,
        resources,
      })
    })

  const destroy = (request: DestroyRequest) =>
    guarded('destroy', async (): Promise<Outcome<DestroyOutcome>> => {
      const env = await locate(request.envId)
      if (env === undefined) return succeeded({ envId: request.envId, existed: false })
      await networking.destroy(env.state)
      await retire(await vmsIn(env.folder, env.state.scope), 'destroyed: its environment was destroyed')
      const [pool, pg] = await Promise.all([
        poolOf(env.state.scope),
        inventory.find(`${dc}/network/${env.state.scope}`),
      ])
      // The folder last: while it is there, the environment can be found and its destroy run again.
      if (pool !== undefined) await inventory.destroy(pool)
      if (pg !== undefined) await inventory.destroy(pg)
      await inventory.destroy(env.folder)
      located.delete(request.envId)
      return succeeded({ envId: request.envId, existed: true })
    })

  return {
    name: sddcProviderName,
    kind: 'vm',
    provisionEnvironment: (request) =>
      ledger.once(deps.db, 'provisionEnvironment', ProvisionRequest, request, () => provision(request)),
    deployApplication: (request) =>
      ledger.once(deps.db, 'deployApplication', DeployRequest, request, () => deploy(request)),
    configureNetwork: (spec) =>
      ledger.once(deps.db, 'configureNetwork', NetworkSpec, spec, () => network(spec)),
    scaleResources: (spec) => ledger.once(deps.db, 'scaleResources', ScaleSpec, spec, () => scale(spec)),
    getStatus: (envId) => ledger.serial(envId, () => status(envId)),
    destroyEnvironment: (request) =>
      ledger.once(deps.db, 'destroyEnvironment', DestroyRequest, request, () => destroy(request)),
    async ownerOf(envId) {
      return (await locate(envId))?.state.tenantId
    },
    resize: (spec) => ledger.once(deps.db, 'resize', ResizeSpec, spec, () => resize(spec)),
    async vms(envId) {
      const env = await locate(envId)
      return env === undefined ? [] : vmsIn(env.folder, env.state.scope)
    },
  }
}
