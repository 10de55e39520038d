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
  summary: 'Resources an environment used on a platform over a short interval',
  publishedBy: 'observability',
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

export const operationsContracts = [
  UsageSampleMessage,
  UsageWindowClosedMessage,
  ObsAnnotatedMessage,
] as const
