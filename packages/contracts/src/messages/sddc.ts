import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  artifactRefField,
  cidrField,
  closedObject,
  DnsSettings,
  idField,
  ipAddressField,
  nameField,
  portField,
  providerField,
  slugField,
  TlsSettings,
} from '../fields.ts'

/** SDDC Flex (vCenter VMs, NSX networking): the router's commands and the adapter's own events. */

const envId = () => idField('The environment')
const deploymentId = () => idField("The orchestrator's deployment (saga) id")
/** A vSphere inventory path or managed object name, e.g. `tenant-acme/prod` or `vm-1042`. */
const inventoryName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._/-]*$', description })

export const VmSpec = closedObject({
  name: slugField('Name prefix of the VMs of this group'),
  count: Type.Integer({ minimum: 1, maximum: 100, description: 'How many VMs of this shape' }),
  cpu: Type.Integer({ minimum: 1, maximum: 128, description: 'vCPUs per VM' }),
  memoryMiB: Type.Integer({ minimum: 256, maximum: 4194304, description: 'Memory per VM' }),
  diskGiB: Type.Integer({ minimum: 1, maximum: 65536, description: 'System disk per VM' }),
  guestOs: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'vSphere guest OS id, e.g. ubuntu64Guest',
  }),
})
export type VmSpec = Static<typeof VmSpec>

export const SddcProvisionRequest = closedObject({
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  deploymentId: deploymentId(),
  artifactRef: artifactRefField('The image the VMs run, pinned by digest'),
  vAppTemplateRef: inventoryName('The vApp template (golden image) to clone'),
  vmSpecs: Type.Array(VmSpec, { minItems: 1, maxItems: 20 }),
  resources: closedObject(
    {
      resourcePool: inventoryName('The tenant resource pool'),
      datastore: inventoryName('The datastore or datastore cluster'),
      folder: inventoryName('The VM folder'),
    },
    { description: 'Where in vCenter the VMs go' },
  ),
  provider: Type.Optional(providerField("The provider meant; absent: the platform's own adapter")),
})
export type SddcProvisionRequest = Static<typeof SddcProvisionRequest>

export const SddcNetworkConfigure = closedObject({
  envId: envId(),
  deploymentId: deploymentId(),
  nsxRoutes: Type.Array(
    closedObject({
      destination: cidrField('Destination block'),
      nextHop: ipAddressField('Next hop'),
    }),
    { maxItems: 100 },
  ),
  nsxLB: Type.Union(
    [
      closedObject({
        port: portField('Port of the virtual server'),
        memberPort: portField('Port the VMs listen on'),
        algorithm: Type.Union([Type.Literal('round-robin'), Type.Literal('least-connections')]),
        healthCheckPath: Type.String({ minLength: 1, maxLength: 512, pattern: '^/' }),
      }),
      Type.Null(),
    ],
    { description: 'An NSX load balancer virtual server, or null for none' },
  ),
  firewallRules: Type.Array(
    closedObject({
      name: slugField('Rule name'),
      action: Type.Union([Type.Literal('allow'), Type.Literal('drop'), Type.Literal('reject')]),
      direction: Type.Union([Type.Literal('in'), Type.Literal('out')]),
      sources: Type.Array(cidrField('Source block'), { minItems: 1, maxItems: 100 }),
      ports: Type.Array(portField('Destination port'), { maxItems: 100, uniqueItems: true }),
      protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
    }),
    { maxItems: 200 },
  ),
  tls: TlsSettings,
  dns: DnsSettings,
  provider: Type.Optional(providerField("The provider meant; absent: the platform's own adapter")),
})
export type SddcNetworkConfigure = Static<typeof SddcNetworkConfigure>

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

export const sddcContracts = [
  defineMessage({
    type: 'cmd.sddc.provision.request',
    version: 1,
    kind: MessageKind.command,
    summary: 'Clone the VMs of a deployment from a vApp template on SDDC Flex',
    publishedBy: 'router',
    schema: SddcProvisionRequest,
    fixture: {
      tenantId: 'tnt_acme',
      projectId: 'prj_shop',
      envId: 'env_prod',
      deploymentId: 'dep_7f3a9c',
      artifactRef:
        'registry.rxt.example/acme/shop@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      vAppTemplateRef: 'templates/ubuntu-24.04-docker',
      vmSpecs: [{ name: 'web', count: 2, cpu: 2, memoryMiB: 4096, diskGiB: 40, guestOs: 'ubuntu64Guest' }],
      resources: { resourcePool: 'tenant-acme', datastore: 'vsanDatastore', folder: 'tenant-acme/shop-prod' },
    },
  }),
  defineMessage({
    type: 'cmd.sddc.network.configure',
    version: 1,
    kind: MessageKind.command,
    summary: 'Configure NSX routes, load balancer, firewall, TLS and DNS on SDDC Flex',
    publishedBy: 'router',
    schema: SddcNetworkConfigure,
    fixture: {
      envId: 'env_prod',
      deploymentId: 'dep_7f3a9c',
      nsxRoutes: [{ destination: '0.0.0.0/0', nextHop: '10.20.0.1' }],
      nsxLB: { port: 443, memberPort: 8080, algorithm: 'round-robin', healthCheckPath: '/healthz' },
      firewallRules: [
        {
          name: 'allow-https',
          action: 'allow',
          direction: 'in',
          sources: ['0.0.0.0/0'],
          ports: [443],
          protocol: 'tcp',
        },
      ],
      tls: { mode: 'acme', certificateRef: null, minVersion: '1.2' },
      dns: { zone: 'acme.example', records: [{ name: 'shop.acme.example', type: 'A', ttlSeconds: 300 }] },
    },
  }),
  defineMessage({
    type: 'cmd.sddc.scale',
    version: 1,
    kind: MessageKind.command,
    summary: 'Change the VM count or VM size of a deployment on SDDC Flex',
    publishedBy: 'router',
    schema: SddcScale,
    fixture: { envId: 'env_prod', deploymentId: 'dep_7f3a9c', vmCount: 3, cpuPerVm: 2, ramPerVm: 4096 },
  }),
  defineMessage({
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
  }),
  defineMessage({
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
  }),
] as const
