import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  type DeployPlan,
  type Envelope,
  SddcDestroyMessage,
  SddcNetworkConfigureMessage,
  SddcProvisionRequestMessage,
  SddcRolloutMessage,
  SddcScaleMessage,
  SddcVerifyMessage,
  SddcVmMigrateMessage,
} from '@rxt/contracts'
import { type ContextDeps, defineContext, InputError, on, perContext, UnavailableError } from '@rxt/kit'
import {
  failed,
  failure,
  healthReport,
  laterAnswers,
  type Outcome,
  runDestroy,
  runNetwork,
  runProvision,
  runRollout,
  runVerify,
  succeeded,
} from '@rxt/platform-sdk'
import Type from 'typebox'
import { followVms } from './follower.ts'
import type { VmRecord } from './lifecycle.ts'
import { createNsxNetworking, createVaultPkiIssuer } from './networking.ts'
import { createNsxClient } from './nsx/index.ts'
import { counterIds, sampleVms } from './sampler.ts'
import {
  createSddcPlatform,
  type SddcPlatform,
  type SddcSettings,
  sddcProviderName,
} from './sddc-platform.ts'
import { createVimClient, type VimClient, VimError } from './vim/client.ts'
import { createInventory } from './vim/inventory.ts'
import { ref } from './vim/xml.ts'

/** sddc-flex's provider.yaml: the router offers it once an operator lists it in PROVIDER_FILES. */
export const sddcProviderFile = fileURLToPath(new URL('../providers/sddc-flex.yaml', import.meta.url))

export interface SddcConfig {
  readonly SDDC_URL: string
  readonly SDDC_USERNAME: string
  readonly SDDC_PASSWORD: string
  readonly SDDC_CA_FILE: string
  readonly SDDC_DATACENTER: string
  readonly SDDC_CLUSTER: string
  readonly SDDC_DATASTORE: string
  readonly SDDC_TEMPLATE: string
  readonly SDDC_SWITCH: string
  readonly SDDC_FOLDER: string
  readonly SDDC_SEGMENT_GATEWAY: string
  readonly SDDC_VIP_RANGE: string
  readonly SDDC_TASK_TIMEOUT_MS: number
  readonly NSX_URL: string
  readonly NSX_USERNAME: string
  readonly NSX_PASSWORD: string
  readonly NSX_CA_FILE: string
  readonly NSX_TIER0_PATH: string
  readonly SDDC_TLS_VAULT_ADDR: string
  readonly SDDC_TLS_VAULT_TOKEN: string
  readonly SDDC_TLS_VAULT_MOUNT: string
  readonly SDDC_TLS_VAULT_ROLE: string
}

/** How often the adapter samples its VMs' metrics (evt.usage.sample per VM). */
export const sddcSampleIntervalMs = 60_000

/** How often the adapter reports vCenter's health (evt.provider.health). */
export const sddcHealthIntervalMs = 15_000

const pem = (file: string) => (file === '' ? undefined : readFileSync(file, 'utf8'))

/** The vCenter and NSX clients of a context, or undefined while SDDC_URL is empty (the adapter is off). */
const clientsOf = perContext((deps: Pick<ContextDeps<SddcConfig>, 'db' | 'config'>) => {
  const c = deps.config
  if (c.SDDC_URL === '') return undefined
  const vim = createVimClient({
    url: c.SDDC_URL,
    username: c.SDDC_USERNAME,
    password: c.SDDC_PASSWORD,
    ...(c.SDDC_CA_FILE === '' ? {} : { ca: pem(c.SDDC_CA_FILE) as string }),
  })
  const nsx =
    c.NSX_URL === ''
      ? undefined
      : createNsxClient({
          url: c.NSX_URL,
          credentials: { username: c.NSX_USERNAME, password: c.NSX_PASSWORD },
          ...(c.NSX_CA_FILE === '' ? {} : { ca: pem(c.NSX_CA_FILE) as string }),
        })
  return { vim, nsx }
})

/** Why RXT Deploy powered VMs off, by VM, for the follower's evt.vm.stopped (this process's). */
const stopReasonsOf = perContext((_deps: { db: object }) => new Map<string, string>())

/** The adapter for a plan's provider settings (the defaults otherwise), or undefined while it is off. */
export const sddcPlatformOf = perContext((deps: Pick<ContextDeps<SddcConfig>, 'db' | 'clock' | 'config'>) => {
  const made = new Map<string, SddcPlatform>()
  return (settings: DeployPlan['settings'] = {}): SddcPlatform | undefined => {
    const clients = clientsOf(deps)
    if (clients === undefined) return undefined
    const c = deps.config
    const sddc: SddcSettings = {
      datacenter: c.SDDC_DATACENTER,
      cluster: c.SDDC_CLUSTER,
      datastore: c.SDDC_DATASTORE,
      template: settings.vmTemplate ?? c.SDDC_TEMPLATE,
      switch: c.SDDC_SWITCH,
      folder: c.SDDC_FOLDER,
      baseDomain: settings.baseDomain ?? 'sddc-flex.internal',
      taskTimeoutMs: c.SDDC_TASK_TIMEOUT_MS,
      segmentGateway: c.SDDC_SEGMENT_GATEWAY,
    }
    const id = JSON.stringify(sddc)
    let platform = made.get(id)
    if (platform === undefined) {
      const reasons = stopReasonsOf(deps)
      platform = createSddcPlatform(deps, {
        client: clients.vim,
        settings: sddc,
        networking:
          clients.nsx === undefined
            ? withoutNsx
            : createNsxNetworking({
                client: clients.nsx,
                ...(c.NSX_TIER0_PATH === '' ? {} : { tier0Path: c.NSX_TIER0_PATH }),
                segmentGateway: c.SDDC_SEGMENT_GATEWAY,
                vipRange: c.SDDC_VIP_RANGE,
                issuer:
                  c.SDDC_TLS_VAULT_ADDR === ''
                    ? undefined
                    : createVaultPkiIssuer({
                        addr: c.SDDC_TLS_VAULT_ADDR,
                        token: c.SDDC_TLS_VAULT_TOKEN,
                        mount: c.SDDC_TLS_VAULT_MOUNT,
                        role: c.SDDC_TLS_VAULT_ROLE,
                      }),
              }),
        onStopping: (vmId, reason) => {
          reasons.set(vmId, reason)
          setTimeout(() => reasons.delete(vmId), 600_000).unref()
        },
      })
      made.set(id, platform)
    }
    return platform
  }
})

/** Networking while no NSX Manager is configured: a deploy that asks for none is fine; one that does is refused. */
const withoutNsx = {
  configure: async (): Promise<Outcome<never>> =>
    failed(
      failure(
        'rejected',
        'sddc-flex has no NSX Manager configured (NSX_URL): no load balancer, TLS or firewall',
      ),
    ),
  destroy: async () => undefined,
  leftovers: async () => 0,
}

/** Why a command may not act for its envelope's tenant, if it may not. */
async function guardTenant(
  platform: SddcPlatform,
  command: { envId?: string; tenantId?: string },
  message: Envelope,
): Promise<string | undefined> {
  if (command.tenantId !== undefined && command.tenantId !== message.tenantId)
    return `the command names tenant ${command.tenantId} but comes from ${message.tenantId}`
  if (command.envId === undefined) return undefined
  const owner = await platform.ownerOf(command.envId)
  return owner === undefined || owner === message.tenantId
    ? undefined
    : `environment ${command.envId} is not tenant ${message.tenantId}'s`
}

const text = (minLength: number, fallback: string, description: string) =>
  Type.String({ minLength, default: fallback, description })

/**
 * The SDDC Flex adapter: environments as vCenter folders, resource pools and port groups, their VMs
 * cloned from a template (SDDC_URL), networking on NSX (NSX_URL). It answers the sddc commands meant
 * for it (provider sddc-flex), follows its VMs' lifecycle in vCenter (evt.vm.*), and reports
 * vCenter's health.
 */
export const sddc = defineContext<SddcConfig>({
  name: 'sddc',
  description: 'The SDDC Flex adapter: environments as vCenter VMs with NSX networking',
  config: Type.Object({
    SDDC_URL: text(0, '', "vCenter's SDK endpoint (https://vcenter.example/sdk); empty: the adapter is off"),
    SDDC_USERNAME: text(0, '', 'The vCenter account the adapter signs in with'),
    SDDC_PASSWORD: text(0, '', "That account's password"),
    SDDC_CA_FILE: text(0, '', "PEM file of the CA vCenter's certificate chains to; empty: the system's CAs"),
    SDDC_DATACENTER: text(1, 'DC0', 'The datacenter environments go in'),
    SDDC_CLUSTER: text(1, 'DC0_C0', "The cluster whose root resource pool holds environments' pools"),
    SDDC_DATASTORE: text(1, 'LocalDS_0', 'The datastore VMs are placed on'),
    SDDC_TEMPLATE: text(
      1,
      'rxt-container-host',
      "The template VMs are cloned from, under the datacenter's VM folder (a plan's vmTemplate setting wins)",
    ),
    SDDC_SWITCH: text(1, 'DVS0', "The distributed switch environments' port groups are made on"),
    SDDC_FOLDER: text(
      1,
      'rxt',
      "The folder under the datacenter's VM folder that holds the environments' folders",
    ),
    SDDC_SEGMENT_GATEWAY: text(
      9,
      '10.64.0.1/24',
      "The gateway of every environment's segment (each behind its own Tier-1)",
    ),
    SDDC_VIP_RANGE: text(9, '10.96.0.0/16', "The range load balancers' virtual IPs are taken from"),
    SDDC_TASK_TIMEOUT_MS: Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      default: 600_000,
      description: 'How long one vCenter task (a clone, a power-on) may take',
    }),
    NSX_URL: text(
      0,
      '',
      "NSX Manager's address (https://nsx.example); empty: no load balancers, TLS or firewall",
    ),
    NSX_USERNAME: text(0, '', 'The NSX account the adapter signs in with'),
    NSX_PASSWORD: text(0, '', "That account's password"),
    NSX_CA_FILE: text(0, '', "PEM file of the CA NSX Manager's certificate chains to"),
    NSX_TIER0_PATH: text(
      0,
      '',
      "The Tier-0 gateway environments' Tier-1 gateways connect to (a Policy path)",
    ),
    SDDC_TLS_VAULT_ADDR: text(0, '', "Vault whose PKI issues load balancers' certificates; empty: no TLS"),
    SDDC_TLS_VAULT_TOKEN: text(
      0,
      '',
      'A Vault token that may issue on SDDC_TLS_VAULT_MOUNT/issue/SDDC_TLS_VAULT_ROLE',
    ),
    SDDC_TLS_VAULT_MOUNT: text(1, 'pki', "The PKI secrets engine's mount"),
    SDDC_TLS_VAULT_ROLE: text(1, 'rxt-deploy', 'The PKI role certificates are issued under'),
  }),
  migrations: new URL('../migrations/', import.meta.url),
  handlers: (deps) => {
    /** The adapter a command is for: undefined when it names another provider; refused across tenants; retried while off. */
    const platformFor = async (
      command: { provider?: string; settings?: DeployPlan['settings']; envId?: string; tenantId?: string },
      message: Envelope,
    ): Promise<SddcPlatform | undefined> => {
      if (command.provider !== sddcProviderName) return undefined
      const platform = sddcPlatformOf(deps)(command.settings)
      if (platform === undefined) throw new UnavailableError('SDDC Flex has no vCenter configured (SDDC_URL)')
      const refused = await guardTenant(platform, command, message)
      if (refused !== undefined) throw new InputError(refused)
      return platform
    }
    // One attempt may take what vCenter's tasks of a step may take (clones, power-ons, removals, in
    // parallel): three task deadlines, not the bus's default minute.
    const attemptMs = 3 * deps.config.SDDC_TASK_TIMEOUT_MS
    // As for spot: vCenter is called after commit with no transaction open (answers by key recorded as
    // they come), then the answers are published with the inbox row.
    const step = (
      contract:
        | typeof SddcProvisionRequestMessage
        | typeof SddcRolloutMessage
        | typeof SddcVerifyMessage
        | typeof SddcNetworkConfigureMessage,
      id: string,
      run: (
        answers: ReturnType<typeof laterAnswers>,
        platform: SddcPlatform,
        plan: DeployPlan,
      ) => Promise<unknown>,
      after?: (
        plan: DeployPlan,
        platform: SddcPlatform,
        done: unknown,
      ) => Promise<readonly Parameters<ReturnType<typeof laterAnswers>['publish']>[0][]>,
    ) =>
      on(
        contract,
        {
          id,
          timeoutMs: attemptMs,
          act: async (data, _act, message) => {
            const plan = data as DeployPlan
            const platform = await platformFor(plan, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            const done = await run(answers, platform, plan)
            const more = done === undefined || after === undefined ? [] : await after(plan, platform, done)
            return [...answers.messages, ...more]
          },
        },
        async (_plan, ctx) => {
          for (const answer of ctx.outcome ?? []) await ctx.publish(answer)
        },
      )
    return [
      step(SddcProvisionRequestMessage, 'provision', runProvision),
      step(
        SddcRolloutMessage,
        'rollout',
        (answers, platform, plan) =>
          // Secrets reach a VM by reference only (guestinfo.rxt.secret-refs): its agent reads them with
          // credentials of its own. Nothing of their values passes through the adapter.
          runRollout(answers, platform, plan, { secrets: async () => succeeded(undefined) }),
        async (plan, platform) =>
          (await platform.vms(plan.envId)).map((vm) => ({
            type: 'evt.sddc.vm.created' as const,
            tenantId: plan.tenantId,
            key: plan.envId,
            data: {
              envId: plan.envId,
              deploymentId: plan.deploymentId,
              vmId: vm.ref.value,
              vAppId: vm.folder,
              name: vm.name,
            },
          })),
      ),
      step(SddcVerifyMessage, 'verify', runVerify),
      step(SddcNetworkConfigureMessage, 'network', runNetwork, async (plan, _platform, network) => {
        const outcome = network as { resources: { kind: string; id: string }[] }
        const segment = outcome.resources.find((r) => r.kind === 'NsxSegment')
        if (segment === undefined) return []
        return [
          {
            type: 'evt.sddc.nsx.configured' as const,
            tenantId: plan.tenantId,
            key: plan.envId,
            data: {
              envId: plan.envId,
              deploymentId: plan.deploymentId,
              lbId: outcome.resources.find((r) => r.kind === 'NsxLbVirtualServer')?.id ?? null,
              segmentId: segment.id,
            },
          },
        ]
      }),
      on(
        SddcDestroyMessage,
        {
          id: 'destroy',
          timeoutMs: attemptMs,
          act: async (command, _act, message) => {
            const platform = await platformFor(command, message)
            if (platform === undefined) return undefined
            const answers = laterAnswers()
            await runDestroy(answers, platform, command)
            return answers.messages
          },
        },
        async (_command, ctx) => {
          for (const answer of ctx.outcome ?? []) await ctx.publish(answer)
        },
      ),
      on(
        SddcVmMigrateMessage,
        {
          id: 'migrate',
          timeoutMs: attemptMs,
          act: async (command, _act, message) => {
            const clients = clientsOf(deps)
            if (clients === undefined)
              throw new UnavailableError('SDDC Flex has no vCenter configured (SDDC_URL)')
            // Only a VM of one of the tenant's environments (the follower's record says whose it is).
            const owner = (
              await deps.db.query<{ tenant_id: string }>(
                'SELECT tenant_id FROM vm_records WHERE vm_id = $1',
                [command.vmId],
              )
            ).rows[0]?.tenant_id
            const refuse = (reason: string, retryable: boolean) => ({
              reason,
              retryable,
              tenantId: message.tenantId,
            })
            if (owner !== message.tenantId)
              return refuse(`VM ${command.vmId} is not one of this organisation's on SDDC Flex`, false)
            const inventory = createInventory(clients.vim, {
              taskTimeoutMs: deps.config.SDDC_TASK_TIMEOUT_MS,
            })
            try {
              await inventory.relocate(ref('VirtualMachine', command.vmId), {
                host: ref('HostSystem', command.toHost),
              })
              // Done: the follower sees the new host and publishes evt.vm.migrated.
              return undefined
            } catch (error) {
              if (!(error instanceof VimError)) throw error
              if (error.kind !== 'fault') throw new UnavailableError(error.message)
              return refuse(error.message, false)
            }
          },
        },
        async (command, ctx) => {
          const refused = ctx.outcome
          if (refused === undefined) return
          await ctx.publish({
            type: 'evt.sddc.vm.migrate.failed',
            tenantId: refused.tenantId,
            key: command.vmId,
            data: {
              vmId: command.vmId,
              toHost: command.toHost,
              requestId: command.requestId,
              reason: refused.reason,
              retryable: refused.retryable,
            },
          })
        },
      ),
      on(
        SddcScaleMessage,
        {
          id: 'scale',
          timeoutMs: attemptMs,
          act: async (command, _act, message) => {
            const platform = sddcPlatformOf(deps)()
            if (platform === undefined)
              throw new UnavailableError('SDDC Flex has no vCenter configured (SDDC_URL)')
            // Only the tenant's own environments: one this adapter does not hold is another provider's.
            const owner = await platform.ownerOf(command.envId)
            if (owner === undefined) return
            if (owner !== message.tenantId)
              throw new InputError(`environment ${command.envId} is not tenant ${message.tenantId}'s`)
            const outcome = await platform.resize({
              key: `${command.deploymentId}:scale:${message.id}`,
              envId: command.envId,
              replicas: command.vmCount,
              cpu: command.cpuPerVm,
              memoryMiB: command.ramPerVm,
            })
            if (outcome.ok) return
            if (outcome.failure.retryable) throw new UnavailableError(outcome.failure.message)
            deps.log.warn({ envId: command.envId, failure: outcome.failure }, 'scale refused by vCenter')
          },
        },
        () => undefined,
      ),
    ]
  },
  start: (deps) => {
    const clients = clientsOf(deps)
    if (clients === undefined) return
    const inventory = createInventory(clients.vim, { taskTimeoutMs: deps.config.SDDC_TASK_TIMEOUT_MS })
    const reasons = stopReasonsOf(deps)
    followers.set(
      deps.db,
      followVms({
        client: clients.vim,
        db: deps.db,
        bus: deps.bus,
        log: deps.log,
        now: () => deps.clock.now(),
        root: async () =>
          inventory.folder(
            await inventory.require(
              `${deps.config.SDDC_DATACENTER}/vm`,
              'datacenter VM folder (SDDC_DATACENTER)',
            ),
            deps.config.SDDC_FOLDER,
          ),
        stateField: () => inventory.customField('rxt.state'),
        stopReason: (vmId) => reasons.get(vmId),
      }),
    )
  },
  stop: async (deps) => {
    await followers.get(deps.db)?.stop()
    const clients = clientsOf(deps)
    await clients?.vim.close()
    await clients?.nsx?.close()
  },
  jobs: (deps) => [
    // VM metrics: every VM the follower knows, powered on, one QueryPerf call a minute.
    {
      name: 'sample-vms',
      everyMs: sddcSampleIntervalMs,
      run: async () => {
        const clients = clientsOf(deps)
        if (clients === undefined) return
        const rows = (
          await deps.db.query<{ record: VmRecord }>(
            "SELECT record FROM vm_records WHERE record->>'powerState' = 'poweredOn' AND record->>'envId' IS NOT NULL",
          )
        ).rows.map((r) => r.record)
        if (rows.length === 0) return
        const end = deps.clock.now()
        const start = new Date(end.getTime() - sddcSampleIntervalMs)
        const ids = await counterIds(clients.vim)
        const toSample = rows.map((r) => ({ vmId: r.vmId, envId: r.envId as string, spec: r.spec }))
        // A VM gone since the follower's last look faults the one call: then each is asked alone, and
        // the ones vCenter no longer has are left out.
        const samples = await sampleVms(clients.vim, ids, toSample, { start, end }).catch(
          async (error: unknown) => {
            if (!(error instanceof VimError && error.kind === 'fault')) throw error
            const one = await Promise.all(
              toSample.map((vm) => sampleVms(clients.vim, ids, [vm], { start, end }).catch(() => [])),
            )
            return one.flat()
          },
        )
        const tenants = new Map(rows.map((r) => [r.vmId, r.tenantId]))
        await deps.db.transaction(async (tx) => {
          for (const sample of samples)
            await deps.bus.publish(tx, {
              type: 'evt.usage.sample',
              tenantId: tenants.get(sample.vmId) as string,
              key: sample.vmId,
              data: sample as never,
            })
        })
      },
    },
    {
      name: 'forget-calls',
      everyMs: 3_600_000,
      run: async () => {
        await deps.db.query('DELETE FROM calls WHERE at < $1', [
          new Date(deps.clock.now().getTime() - 7 * 86_400_000),
        ])
      },
    },
    {
      name: 'health',
      everyMs: sddcHealthIntervalMs,
      atStart: true,
      run: async () => {
        const clients = clientsOf(deps)
        if (clients === undefined) return
        const report = await healthReport(sddcProviderName, 'vCenter', () => probe(clients.vim), {
          now: () => deps.clock.now(),
          intervalMs: sddcHealthIntervalMs,
        })
        await deps.db.transaction((tx) => deps.bus.publish(tx, report))
      },
    },
  ],
})

const followers = new WeakMap<object, { stop(): Promise<void> }>()

/** Whether vCenter answers a signed-in call. */
async function probe(client: VimClient): Promise<Outcome<undefined>> {
  try {
    await client.call('CurrentTime', ref('ServiceInstance', 'ServiceInstance'))
    return succeeded(undefined)
  } catch (error) {
    return failed(failure('unavailable', (error as Error).message))
  }
}

export {
  createSddcPlatform,
  type SddcPlatform,
  type SddcSettings,
  sddcProviderName,
} from './sddc-platform.ts'
export { createVimClient, type VimClient, VimError } from './vim/client.ts'
