import {
  SddcVmCreatedMessage,
  SddcVmMigrateFailedMessage,
  UsageSampleMessage,
  VmCreatedMessage,
  VmMigratedMessage,
  VmStartedMessage,
  VmStoppedMessage,
} from '@rxt/contracts'
import { defineContext, on, perContext, tenantOfMessage } from '@rxt/kit'
import Type from 'typebox'
import { monitoringRoutes } from './routes/monitoring.ts'
import { vmRoutes } from './routes/vms.ts'
import { createVms, type VmsConfig } from './service.ts'

const VmsConfigSchema = Type.Object({
  VMS_MIGRATION_TIMEOUT_SECONDS: Type.Integer({
    minimum: 60,
    maximum: 86_400,
    default: 3_600,
    description:
      'How long a VM migration request (POST /v1/vms/{vmId}/migrate) waits for the SDDC Flex adapter to move the VM or refuse, before it fails (retryable)',
  }),
  VMS_SAMPLE_RETENTION_DAYS: Type.Integer({
    minimum: 1,
    maximum: 3_660,
    default: 35,
    description:
      'How long per-VM samples (GET /v1/vms/{vmId}/metrics) are kept: older ones are deleted by the hourly purge-samples job',
  }),
})

/** One vms per context database: routes and handlers share it. */
const vmsOf = perContext(createVms)

/**
 * VMs (seeds 002 and 003): the event-sourced VM inventory — each VM's lifecycle history and the list
 * and details folded from it — per-VM metrics and alerts, and migrations between hosts.
 */
export const vms = defineContext<VmsConfig>({
  name: 'vms',
  description:
    "The organisations' VMs: lifecycle history and the read models folded from it, metrics, alerts, migrations",
  config: VmsConfigSchema,
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => {
    vmRoutes(vmsOf(deps))(app)
    monitoringRoutes(vmsOf(deps))(app)
  },
  handlers: (deps) => [
    // One handler, one durable consumer: a VM's events are kept in one history whatever their type.
    on(
      [VmCreatedMessage, VmStartedMessage, VmStoppedMessage, VmMigratedMessage, SddcVmCreatedMessage],
      { id: 'history' },
      (message, ctx) => vmsOf(deps).record(ctx.tx, tenantOfMessage(message), message),
    ),
    on(UsageSampleMessage, { id: 'samples' }, (data, ctx, message) =>
      vmsOf(deps).sample(ctx.tx, tenantOfMessage(message), message.id, data),
    ),
    on(SddcVmMigrateFailedMessage, { id: 'migrate-failed' }, (data, ctx, message) =>
      vmsOf(deps).migrateFailed(ctx.tx, tenantOfMessage(message), data, new Date(message.time)),
    ),
  ],
  jobs: (deps) => [
    {
      name: 'migration-deadline',
      everyMs: 60_000,
      run: async () => {
        const expired = await vmsOf(deps).expireMigrations()
        if (expired > 0) deps.log.warn({ expired }, 'VM migration requests failed for want of an answer')
      },
    },
    {
      name: 'purge-samples',
      everyMs: 3_600_000,
      run: async () => {
        const purged = await vmsOf(deps).purgeSamples()
        if (purged > 0) deps.log.info({ purged }, 'VM samples past VMS_SAMPLE_RETENTION_DAYS deleted')
      },
    },
  ],
})

export { type AlertRule, evaluatePoweredOff, evaluateThreshold, isExpectedStop } from './domain/alerts.ts'
export {
  compareEntries,
  foldHistory,
  type HistoryEntry,
  occurredAtOf,
  type VmState,
} from './domain/projection.ts'
export { parseRange } from './domain/range.ts'
export { createVms, type Vms, type VmsConfig } from './service.ts'
