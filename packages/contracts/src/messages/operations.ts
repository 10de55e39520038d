import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  closedObject,
  idField,
  labelField,
  platformField,
  textField,
  timestampField,
  urlField,
} from '../fields.ts'

/** Running the platform: usage metering and observability annotations. */

export const UsageSample = closedObject({
  envId: idField('The environment'),
  platform: platformField(),
  windowStart: timestampField('Start of the sampled interval'),
  windowEnd: timestampField('End of the sampled interval'),
  cpu: Type.Number({ minimum: 0, maximum: 100000, description: 'Average vCPUs allocated over the interval' }),
  ram: Type.Number({
    minimum: 0,
    maximum: 1.0e9,
    description: 'Average MiB of memory allocated over the interval',
  }),
  storage: Type.Number({ minimum: 0, maximum: 1.0e9, description: 'GiB of storage provisioned at the end' }),
  egressBytes: Type.Integer({
    minimum: 0,
    description: 'Bytes sent out of the platform during the interval',
  }),
  vmId: Type.Optional(
    idField(
      "The VM sampled (SDDC Flex, vCenter's QueryPerf): the sample covers that VM alone, and an environment's per-VM samples of a window add up to the environment's (an adapter publishing them publishes no aggregate beside). Absent: the whole environment",
    ),
  ),
  cpuPercent: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 100,
      description: 'Average CPU use of the VM, % of its vCPUs (cpu.usage.average)',
    }),
  ),
  memoryPercent: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 100,
      description: 'Average memory use of the VM, % of its memory (mem.usage.average)',
    }),
  ),
  diskPercent: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 100,
      description: "The VM's guest disks in use at the end, % of their capacity",
    }),
  ),
  diskReadBytes: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Bytes the VM read from its disks during the interval' }),
  ),
  diskWriteBytes: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Bytes the VM wrote to its disks during the interval' }),
  ),
  networkRxBytes: Type.Optional(
    Type.Integer({ minimum: 0, description: "Bytes the VM's network adapters received during the interval" }),
  ),
  networkTxBytes: Type.Optional(
    Type.Integer({ minimum: 0, description: "Bytes the VM's network adapters sent during the interval" }),
  ),
})
export type UsageSample = Static<typeof UsageSample>

export const UsageTotals = closedObject({
  platform: platformField(),
  cpuCoreHours: Type.Number({ minimum: 0 }),
  ramGiBHours: Type.Number({ minimum: 0 }),
  storageGiBHours: Type.Number({ minimum: 0 }),
  egressBytes: Type.Integer({ minimum: 0 }),
})
export type UsageTotals = Static<typeof UsageTotals>

export const UsageWindowClosed = closedObject({
  tenantId: idField('The tenant billed'),
  windowId: idField('The billing window, e.g. 2025-06-01T00'),
  windowStart: timestampField('Start of the window'),
  windowEnd: timestampField('End of the window'),
  totals: Type.Array(UsageTotals, {
    maxItems: 2,
    description: 'Per-platform totals; a platform the tenant did not use is absent',
  }),
  sampleCount: Type.Integer({ minimum: 0, description: 'How many samples were rolled up' }),
})
export type UsageWindowClosed = Static<typeof UsageWindowClosed>

export const ObsAnnotated = closedObject({
  annotationId: idField('The annotation'),
  envId: idField('The environment'),
  deploymentId: Type.Union([idField("The orchestrator's deployment (saga) id"), Type.Null()], {
    description: 'The deployment it marks, or null for a manual annotation',
  }),
  text: textField('What the annotation says', 500),
  tags: Type.Array(labelField('A tag'), { maxItems: 20, uniqueItems: true }),
  at: timestampField('The instant the annotation marks'),
  dashboardUrl: Type.Union([urlField('A dashboard showing the annotation'), Type.Null()]),
})
export type ObsAnnotated = Static<typeof ObsAnnotated>

export const UsageSampleMessage = defineMessage({
  type: 'evt.usage.sample',
  version: 1,
  kind: MessageKind.event,
  summary:
    'Resources an environment used on a platform over a short interval: per environment by observability, per VM (vmId, with its utilisation) by the SDDC Flex adapter',
  publishedBy: '*',
  schema: UsageSample,
  fixture: {
    envId: 'env_prod',
    platform: 'rxt-spot',
    windowStart: '2025-06-01T12:00:00Z',
    windowEnd: '2025-06-01T12:05:00Z',
    cpu: 1.5,
    ram: 1536,
    storage: 0,
    egressBytes: 7340032,
  },
})

export const UsageWindowClosedMessage = defineMessage({
  type: 'evt.usage.window.closed',
  version: 1,
  kind: MessageKind.event,
  summary: "A tenant's billing window closed with its rolled-up totals",
  publishedBy: 'usage',
  schema: UsageWindowClosed,
  fixture: {
    tenantId: 'tnt_acme',
    windowId: '2025-06-01T12',
    windowStart: '2025-06-01T12:00:00Z',
    windowEnd: '2025-06-01T13:00:00Z',
    totals: [
      {
        platform: 'rxt-spot',
        cpuCoreHours: 1.5,
        ramGiBHours: 1.5,
        storageGiBHours: 0,
        egressBytes: 88080384,
      },
    ],
    sampleCount: 12,
  },
})

export const ObsAnnotatedMessage = defineMessage({
  type: 'evt.obs.annotated',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployment event was marked on dashboards',
  publishedBy: 'observability',
  schema: ObsAnnotated,
  fixture: {
    annotationId: 'ann_51',
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    text: 'Deployed 9fceb02 to rxt-spot',
    tags: ['deploy', 'rxt-spot'],
    at: '2025-06-01T12:01:10Z',
    dashboardUrl: 'https://deploy.rxt.example/dashboards/env_prod',
  },
})

export const RequestAudited = closedObject({
  actor: Type.String({
    minLength: 1,
    maxLength: 200,
    description: 'Who: user:<id>, api-key:<id>, service:<name>, or anonymous',
  }),
  action: Type.String({
    minLength: 1,
    maxLength: 300,
    description: 'The route: method and template, e.g. POST /v1/secrets/:secretId/rotate',
  }),
  object: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'What it acted on: the path requested, without its query',
  }),
  context: Type.String({ minLength: 1, maxLength: 63, description: 'The context that answered' }),
  requestId: Type.String({ minLength: 1, maxLength: 128, description: 'The request id (X-Request-Id)' }),
  outcome: closedObject({
    status: Type.Integer({ minimum: 100, maximum: 599, description: 'The HTTP status answered' }),
    problem: Type.Union([Type.String({ minLength: 1, maxLength: 300 }), Type.Null()], {
      description: "The problem's type URI when it failed, else null (never its detail)",
    }),
  }),
  at: timestampField('When the request was answered'),
})
export type RequestAudited = Static<typeof RequestAudited>

/** Written by the kit's HTTP layer of every context, in the request's own transaction when it has one. */
export const RequestAuditedMessage = defineMessage({
  type: 'evt.request.audited',
  version: 1,
  kind: MessageKind.event,
  summary: 'A mutating HTTP request was answered: actor, action, object, tenant, request id, outcome',
  publishedBy: '*',
  schema: RequestAudited,
  fixture: {
    actor: 'user:0f9a6c1e-5b7d-4a3e-9c2b-1d8e7f6a5b4c',
    action: 'POST /v1/secrets/:secretId/rotate',
    object: '/v1/secrets/7b0c2d4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f/rotate',
    context: 'secrets',
    requestId: 'req_8d2f',
    outcome: { status: 200, problem: null },
    at: '2025-06-01T12:01:10Z',
  },
})

export const AuditCheckpoint = closedObject({
  sequence: Type.Integer({ minimum: 1, description: "The chain head's sequence number" }),
  headHash: Type.String({
    minLength: 64,
    maxLength: 64,
    pattern: '^[0-9a-f]{64}$',
    description: 'sha256 of the head record',
  }),
  keyId: Type.String({ minLength: 1, maxLength: 64, description: 'The signing key' }),
  signature: Type.String({ minLength: 1, maxLength: 200, description: 'Ed25519, base64url' }),
  signedAt: timestampField('When it was signed'),
})
export type AuditCheckpoint = Static<typeof AuditCheckpoint>

export const AuditCheckpointedMessage = defineMessage({
  type: 'evt.audit.checkpointed',
  version: 1,
  kind: MessageKind.event,
  summary: "A tenant's audit chain head was signed (a signed tree head to keep outside the platform)",
  publishedBy: 'audit',
  schema: AuditCheckpoint,
  fixture: {
    sequence: 1024,
    headHash: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    keyId: 'b1946ac92492d234',
    signature: 'MEUCIQDk0exampleSignatureBase64url',
    signedAt: '2025-06-01T12:02:00Z',
  },
})

export const operationsContracts = [
  RequestAuditedMessage,
  AuditCheckpointedMessage,
  UsageSampleMessage,
  UsageWindowClosedMessage,
  ObsAnnotatedMessage,
] as const
