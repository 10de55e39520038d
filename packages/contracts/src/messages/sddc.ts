import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import { closedObject, idField, nameField, textField } from '../fields.ts'
import { DeployPlan, deployPlanFixture } from '../plan/deploy-plan.ts'
import { DestroyEnvironment } from './provisioning.ts'

/** SDDC Flex (vCenter VMs, NSX networking): the router's commands and the adapter's own events. */

const envId = () => idField('The environment')
const deploymentId = () => idField("The orchestrator's deployment (saga) id")
/** cmd.sddc.provision.request, cmd.sddc.network.configure, cmd.sddc.rollout and cmd.sddc.verify carry the deployment's plan. */
export const SddcProvisionRequest = DeployPlan
export type SddcProvisionRequest = DeployPlan
export const SddcNetworkConfigure = DeployPlan
export type SddcNetworkConfigure = DeployPlan

export const SddcScale = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  vmCount: Type.Integer({ minimum: 0, maximum: 100, description: 'Desired VMs (0 powers all off)' }),
  cpuPerVm: Type.Integer({ minimum: 1, maximum: 128, description: 'vCPUs per VM' }),
  ramPerVm: Type.Integer({ minimum: 256, maximum: 4194304, description: 'Memory per VM in MiB' }),
})
export type SddcScale = Static<typeof SddcScale>

export const SddcVmCreated = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  vmId: idField('The VM managed object id, e.g. vm-1042'),
  vAppId: idField('The vApp the VM belongs to'),
  name: nameField('The VM name'),
})
export type SddcVmCreated = Static<typeof SddcVmCreated>

export const SddcNsxConfigured = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  lbId: Type.Union([idField('The NSX load balancer virtual server'), Type.Null()], {
    description: 'The load balancer virtual server, or null when none was requested',
  }),
  segmentId: idField('The NSX segment the VMs are attached to'),
})
export type SddcNsxConfigured = Static<typeof SddcNsxConfigured>

export const SddcVmMigrate = closedObject({
  vmId: idField('The VM managed object id, e.g. vm-1042'),
  toHost: idField('The ESXi host to move it to (vMotion), e.g. host-21'),
  requestId: idField("The vms context's migration request: evt.sddc.vm.migrate.failed names it"),
})
export type SddcVmMigrate = Static<typeof SddcVmMigrate>

export const SddcVmMigrateFailed = closedObject({
  vmId: idField('The VM managed object id'),
  toHost: idField('The host it was to move to'),
  requestId: idField('The migration request of cmd.sddc.vm.migrate'),
  reason: textField('Why vCenter did not move it, for people', 2000),
  retryable: Type.Boolean({ description: 'Whether asking again may succeed' }),
})
export type SddcVmMigrateFailed = Static<typeof SddcVmMigrateFailed>

export const SddcProvisionRequestMessage = defineMessage({
  type: 'cmd.sddc.provision.request',
  version: 2,
  kind: MessageKind.command,
  summary:
    "Create a deployment's environment on SDDC Flex (VM folder, segment), as its plan says; the VMs are cmd.sddc.rollout's",
  publishedBy: 'orchestrator',
  schema: SddcProvisionRequest,
  fixture: deployPlanFixture('sddc-flex', 'sddc-flex'),
})

export const SddcNetworkConfigureMessage = defineMessage({
  type: 'cmd.sddc.network.configure',
  version: 2,
  kind: MessageKind.command,
  summary:
    "Configure a provisioned deployment's NSX load balancer, firewall, TLS and DNS on SDDC Flex, as its plan says",
  publishedBy: 'orchestrator',
  schema: SddcNetworkConfigure,
  fixture: deployPlanFixture('sddc-flex', 'sddc-flex'),
})

export const SddcRolloutMessage = defineMessage({
  type: 'cmd.sddc.rollout',
  version: 1,
  kind: MessageKind.command,
  summary:
    "Roll a deployment's VMs and what runs on them out on SDDC Flex, as its plan says; answered by evt.rolled.out or evt.rollout.failed",
  publishedBy: 'orchestrator',
  schema: DeployPlan,
  fixture: deployPlanFixture('sddc-flex', 'sddc-flex'),
})

export const SddcVerifyMessage = defineMessage({
  type: 'cmd.sddc.verify',
  version: 1,
  kind: MessageKind.command,
  summary:
    "Verify a deployment's health on SDDC Flex: its plan's image runs, every desired VM ready; answered by evt.verified or evt.verify.failed",
  publishedBy: 'orchestrator',
  schema: DeployPlan,
  fixture: deployPlanFixture('sddc-flex', 'sddc-flex'),
})

export const SddcScaleMessage = defineMessage({
  type: 'cmd.sddc.scale',
  version: 1,
  kind: MessageKind.command,
  summary: 'Change the VM count or VM size of a deployment on SDDC Flex',
  publishedBy: 'router',
  schema: SddcScale,
  fixture: { envId: 'env_prod', deploymentId: 'dep_7f3a9c', vmCount: 3, cpuPerVm: 2, ramPerVm: 4096 },
})

export const SddcVmCreatedMessage = defineMessage({
  type: 'evt.sddc.vm.created',
  version: 1,
  kind: MessageKind.event,
  summary: 'A VM of a deployment was created in its vApp on SDDC Flex',
  publishedBy: 'sddc',
  schema: SddcVmCreated,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    vmId: 'vm-1042',
    vAppId: 'vapp-shop-prod',
    name: 'web-1',
  },
})

export const SddcNsxConfiguredMessage = defineMessage({
  type: 'evt.sddc.nsx.configured',
  version: 1,
  kind: MessageKind.event,
  summary: 'NSX segment and load balancer of a deployment were configured on SDDC Flex',
  publishedBy: 'sddc',
  schema: SddcNsxConfigured,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    lbId: 'lb-shop-prod',
    segmentId: 'seg-tenant-acme-prod',
  },
})

export const SddcDestroyMessage = defineMessage({
  type: 'cmd.sddc.destroy',
  version: 1,
  kind: MessageKind.command,
  summary:
    'Remove everything of an environment on SDDC Flex (its VMs, folder and NSX objects); answered by evt.destroyed or evt.destroy.failed',
  publishedBy: 'orchestrator',
  schema: DestroyEnvironment,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    tenantId: 'tnt_acme',
    provider: 'sddc-flex',
    reason: 'the deployment failed at its network step; what it provisioned is undone',
  },
})

export const SddcVmMigrateMessage = defineMessage({
  type: 'cmd.sddc.vm.migrate',
  version: 1,
  kind: MessageKind.command,
  summary:
    'Move a VM to another ESXi host (vMotion) on SDDC Flex; done when evt.vm.migrated says it runs there, or answered by evt.sddc.vm.migrate.failed',
  publishedBy: 'vms',
  schema: SddcVmMigrate,
  fixture: { vmId: 'vm-1042', toHost: 'host-21', requestId: '0190f5e2-7b1c-7d3e-9a4b-2c6d8e0f1a2b' },
})

export const SddcVmMigrateFailedMessage = defineMessage({
  type: 'evt.sddc.vm.migrate.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'vCenter did not move a VM as cmd.sddc.vm.migrate asked',
  publishedBy: 'sddc',
  schema: SddcVmMigrateFailed,
  fixture: {
    vmId: 'vm-1042',
    toHost: 'host-21',
    requestId: '0190f5e2-7b1c-7d3e-9a4b-2c6d8e0f1a2b',
    reason: 'host-21 is in maintenance mode',
    retryable: true,
  },
})

export const sddcContracts = [
  SddcProvisionRequestMessage,
  SddcNetworkConfigureMessage,
  SddcRolloutMessage,
  SddcVerifyMessage,
  SddcScaleMessage,
  SddcVmCreatedMessage,
  SddcNsxConfiguredMessage,
  SddcDestroyMessage,
  SddcVmMigrateMessage,
  SddcVmMigrateFailedMessage,
] as const
