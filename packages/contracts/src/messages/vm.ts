import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import { closedObject, idField, ipAddressField, labelField, textField, timestampField } from '../fields.ts'

/**
 * VM lifecycle (seed 002): what happened to a VM, whoever caused it. The SDDC Flex adapter watches
 * vCenter and publishes these; read models (the vms context's list, details and history; billing) are
 * built from them.
 */

const vmId = () => idField('The VM managed object id, e.g. vm-1042')
const nodeId = (description: string) => idField(description)

export const VmSpecSummary = closedObject(
  {
    cpu: Type.Integer({ minimum: 1, maximum: 768, description: 'vCPUs' }),
    memoryMiB: Type.Integer({ minimum: 1, maximum: 25165824, description: 'Memory' }),
    diskGiB: Type.Integer({ minimum: 0, maximum: 1048576, description: 'Total disk' }),
    guestOs: Type.String({ minLength: 1, maxLength: 64, description: 'vSphere guest OS id' }),
  },
  { description: 'The shape of the VM' },
)
export type VmSpecSummary = Static<typeof VmSpecSummary>

export const VmCreated = closedObject({
  vmId: vmId(),
  tenantId: idField('The tenant that owns the VM'),
  nodeId: nodeId('The ESXi host the VM was placed on'),
  envId: Type.Union([idField('The environment'), Type.Null()], {
    description: 'The environment the VM serves, or null for a VM outside any deployment',
  }),
  spec: VmSpecSummary,
  tags: Type.Optional(
    Type.Array(labelField('A vSphere tag of the VM (category/name)'), {
      maxItems: 50,
      uniqueItems: true,
      description: "The VM's vSphere tags, when the adapter reads them",
    }),
  ),
})
export type VmCreated = Static<typeof VmCreated>

export const VmStarted = closedObject({
  vmId: vmId(),
  nodeId: nodeId('The ESXi host the VM runs on'),
  startTime: timestampField('When the VM powered on'),
  ipAddresses: Type.Optional(
    Type.Array(ipAddressField('An address of the guest'), {
      maxItems: 32,
      description: "The guest's IP addresses as VMware Tools reports them, when known",
    }),
  ),
})
export type VmStarted = Static<typeof VmStarted>

export const VmStopped = closedObject({
  vmId: vmId(),
  stopTime: timestampField('When the VM powered off'),
  reason: textField('Why it stopped, e.g. scaled down, guest shutdown, host failure', 500),
})
export type VmStopped = Static<typeof VmStopped>

export const VmMigrated = closedObject({
  vmId: vmId(),
  fromNode: nodeId('The ESXi host the VM left'),
  toNode: nodeId('The ESXi host the VM now runs on'),
  startTime: timestampField('When the migration began'),
  completedTime: timestampField('When the migration completed'),
})
export type VmMigrated = Static<typeof VmMigrated>

export const VmCreatedMessage = defineMessage({
  type: 'evt.vm.created',
  version: 1,
  kind: MessageKind.event,
  summary: 'A VM was created',
  publishedBy: 'sddc',
  schema: VmCreated,
  fixture: {
    vmId: 'vm-1042',
    tenantId: 'tnt_acme',
    nodeId: 'host-17',
    envId: 'env_prod',
    spec: { cpu: 2, memoryMiB: 4096, diskGiB: 40, guestOs: 'ubuntu64Guest' },
  },
})

export const VmStartedMessage = defineMessage({
  type: 'evt.vm.started',
  version: 1,
  kind: MessageKind.event,
  summary: 'A VM powered on',
  publishedBy: 'sddc',
  schema: VmStarted,
  fixture: { vmId: 'vm-1042', nodeId: 'host-17', startTime: '2025-06-01T11:59:30Z' },
})

export const VmStoppedMessage = defineMessage({
  type: 'evt.vm.stopped',
  version: 1,
  kind: MessageKind.event,
  summary: 'A VM powered off',
  publishedBy: 'sddc',
  schema: VmStopped,
  fixture: { vmId: 'vm-1042', stopTime: '2025-06-02T08:30:00Z', reason: 'scaled down' },
})

export const VmMigratedMessage = defineMessage({
  type: 'evt.vm.migrated',
  version: 1,
  kind: MessageKind.event,
  summary: 'A VM moved to another host (vMotion)',
  publishedBy: 'sddc',
  schema: VmMigrated,
  fixture: {
    vmId: 'vm-1042',
    fromNode: 'host-17',
    toNode: 'host-21',
    startTime: '2025-06-01T15:00:00Z',
    completedTime: '2025-06-01T15:00:42Z',
  },
})

const alertKind = () =>
  Type.Union([Type.Literal('threshold'), Type.Literal('powered-off')], {
    description:
      'threshold: a metric above a level for a duration; powered-off: a stop RXT Deploy did not cause',
  })

export const VmAlertFired = closedObject({
  alertId: idField('The alert'),
  ruleId: idField("The organisation's alert rule"),
  ruleName: textField('The rule name', 200),
  kind: alertKind(),
  vmId: vmId(),
  firstSeen: timestampField('When the condition began to hold'),
  observedPercent: Type.Union([Type.Number({ minimum: 0, maximum: 100 }), Type.Null()], {
    description: 'The metric when it fired, a percentage (threshold rules); null for powered-off',
  }),
  detail: textField('What fired, for people', 1000),
})
export type VmAlertFired = Static<typeof VmAlertFired>

export const VmAlertResolved = closedObject({
  alertId: idField('The alert'),
  ruleId: idField("The organisation's alert rule"),
  vmId: vmId(),
  firstSeen: timestampField('When the condition began to hold'),
  resolvedAt: timestampField('When it stopped holding'),
})
export type VmAlertResolved = Static<typeof VmAlertResolved>

export const VmAlertFiredMessage = defineMessage({
  type: 'evt.vm.alert.fired',
  version: 1,
  kind: MessageKind.event,
  summary: "An alert rule of the organisation began to fire for a VM (the vms context's evaluation)",
  publishedBy: 'vms',
  schema: VmAlertFired,
  fixture: {
    alertId: '0190f5e2-7b1c-7d3e-9a4b-2c6d8e0f1a2c',
    ruleId: '0190f5e2-7b1c-7d3e-9a4b-2c6d8e0f1a2d',
    ruleName: 'cpu hot',
    kind: 'threshold',
    vmId: 'vm-1042',
    firstSeen: '2025-06-01T12:10:00Z',
    observedPercent: 96.5,
    detail: 'cpu above 90% for 600 s (now 96.5%)',
  },
})

export const VmAlertResolvedMessage = defineMessage({
  type: 'evt.vm.alert.resolved',
  version: 1,
  kind: MessageKind.event,
  summary: 'A firing alert of a VM stopped holding',
  publishedBy: 'vms',
  schema: VmAlertResolved,
  fixture: {
    alertId: '0190f5e2-7b1c-7d3e-9a4b-2c6d8e0f1a2c',
    ruleId: '0190f5e2-7b1c-7d3e-9a4b-2c6d8e0f1a2d',
    vmId: 'vm-1042',
    firstSeen: '2025-06-01T12:10:00Z',
    resolvedAt: '2025-06-01T12:25:00Z',
  },
})

export const vmContracts = [
  VmCreatedMessage,
  VmStartedMessage,
  VmStoppedMessage,
  VmMigratedMessage,
  VmAlertFiredMessage,
  VmAlertResolvedMessage,
] as const
