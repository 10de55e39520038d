import type {
  Envelope,
  SddcVmMigrate,
  SddcVmMigrateFailed,
  UsageSample,
  VmAlertFired,
  VmAlertResolved,
} from '@rxt/contracts'
import {
  actorOf,
  type Clock,
  ConflictError,
  type ContextBus,
  type ContextDb,
  InputError,
  NotFoundError,
  newId,
  type Principal,
  type Transaction,
} from '@rxt/kit'
import {
  type AlertMetric,
  type AlertRule,
  evaluatePoweredOff,
  evaluateThreshold,
  RuleKind,
  type Transition,
} from './domain/alerts.ts'
import {
  foldHistory,
  type HistoryEntry,
  occurredAtOf,
  type VmEvent,
  type VmState,
} from './domain/projection.ts'
import { bucketOf, parseRange } from './domain/range.ts'
import {
  createVmRows,
  entryOf,
  type MigrationRow,
  type RuleRow,
  type SeriesName,
  sampleColumns,
  type VmRow,
  type VmRows,
} from './store.ts'

export interface VmsConfig {
  /** How long a migration request waits for its answer before it fails. */
  readonly VMS_MIGRATION_TIMEOUT_SECONDS: number
  /** How long per-VM samples are kept. */
  readonly VMS_SAMPLE_RETENTION_DAYS: number
}

export interface VmsDeps {
  readonly db: ContextDb
  readonly bus: ContextBus
  readonly clock: Clock
  readonly config: VmsConfig
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const iso = (at: Date | null) => (at === null ? null : at.toISOString())

export const vmView = (row: VmRow) => ({
  vmId: row.vm_id,
  name: row.name,
  envId: row.env_id,
  deploymentId: row.deployment_id,
  host: row.host,
  powerState: row.power_state,
  spec: row.spec,
  ipAddresses: row.ip_addresses,
  tags: row.tags,
  createdAt: iso(row.created_at),
  startedAt: iso(row.started_at),
  stoppedAt: iso(row.stopped_at),
  stopReason: row.stop_reason,
  lastMigration: row.last_migration,
  lastEventAt: row.last_event_at.toISOString(),
})

const ruleView = (row: RuleRow) => ({
  id: row.id,
  name: row.name,
  kind: row.kind,
  ...(row.kind === RuleKind.threshold
    ? {
        metric: row.metric as AlertMetric,
        above: row.above as number,
        forSeconds: row.for_seconds as number,
      }
    : {}),
  envId: row.env_id,
  createdBy: row.created_by,
  createdAt: row.created_at.toISOString(),
})

const migrationView = (row: MigrationRow) => ({
  id: row.id,
  vmId: row.vm_id,
  fromHost: row.from_host,
  toHost: row.to_host,
  status: row.status,
  requestedBy: row.requested_by,
  requestedAt: row.requested_at.toISOString(),
  finishedAt: iso(row.finished_at),
  reason: row.reason,
  retryable: row.retryable,
})

const ruleOf = (row: RuleRow): AlertRule =>
  row.kind === RuleKind.threshold
    ? {
        kind: RuleKind.threshold,
        metric: row.metric as AlertMetric,
        above: row.above as number,
        forSeconds: row.for_seconds as number,
      }
    : { kind: RuleKind.poweredOff }

const units: Record<SeriesName, 'percent' | 'bytes'> = {
  cpu: 'percent',
  memory: 'percent',
  disk: 'percent',
  diskReadBytes: 'bytes',
  diskWriteBytes: 'bytes',
  networkRxBytes: 'bytes',
  networkTxBytes: 'bytes',
}

export interface NewRule {
  readonly name: string
  readonly kind: RuleKind
  readonly metric?: AlertMetric
  readonly above?: number
  readonly forSeconds?: number
  readonly envId?: string
}

/**
 * VMs: the event-sourced inventory (history → projection), per-VM metrics, alerts, and migrations.
 * Handlers record in the bus's transaction; routes read in the caller's organisation.
 */
export function createVms(deps: VmsDeps) {
  const { db, bus, clock } = deps

  const asTenant = (tx: Transaction, tenantId: string) =>
    tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])

  /** The VM's projection folded again from its whole history, and stored. */
  const project = async (rows: VmRows, tenantId: string, vmId: string): Promise<VmState> => {
    const history = (await rows.history(vmId)).map(entryOf)
    const state = foldHistory(vmId, tenantId, history)
    await rows.upsertVm(state)
    return state
  }

  /**
   * Applies a rule's transition for one VM to its alert, and says so on the bus in the same
   * transaction (evt.vm.alert.fired, evt.vm.alert.resolved: for notifications, and the audit trail).
   */
  const transit = async (
    tx: Transaction,
    rows: VmRows,
    tenantId: string,
    rule: RuleRow,
    vmId: string,
    t: Transition,
  ) => {
    if (t.action === 'none') return
    const open = await rows.firing(rule.id, vmId)
    if (t.action === 'fire' && open === undefined) {
      const id = newId()
      const fired = await rows.fire({
        id,
        tenant_id: tenantId,
        rule_id: rule.id,
        vm_id: vmId,
        first_seen: t.at,
        value: t.value,
        detail: t.detail,
      })
      if (!fired) return
      const data: VmAlertFired = {
        alertId: id,
        ruleId: rule.id,
        ruleName: rule.name,
        kind: rule.kind,
        vmId,
        firstSeen: t.at.toISOString(),
        observedPercent: t.value,
        detail: t.detail.slice(0, 1000),
      }
      await bus.publish(tx, { type: 'evt.vm.alert.fired', tenantId, key: vmId, data })
    }
    if (t.action === 'resolve' && open !== undefined) {
      const resolvedAt = await rows.resolve(open.id, t.at)
      const data: VmAlertResolved = {
        alertId: open.id,
        ruleId: rule.id,
        vmId,
        firstSeen: open.first_seen.toISOString(),
        resolvedAt: resolvedAt.toISOString(),
      }
      await bus.publish(tx, { type: 'evt.vm.alert.resolved', tenantId, key: vmId, data })
    }
  }

  const appliesTo = (rule: RuleRow, envId: string | null) => rule.env_id === null || rule.env_id === envId

  /** The powered-off rules weighed against the VM's state as it now stands. */
  const weighPower = async (tx: Transaction, rows: VmRows, tenantId: string, state: VmState) => {
    for (const rule of await rows.rules()) {
      if (rule.kind !== RuleKind.poweredOff || !appliesTo(rule, state.envId)) continue
      const firing = (await rows.firing(rule.id, state.vmId)) !== undefined
      await transit(tx, rows, tenantId, rule, state.vmId, evaluatePoweredOff(state, firing))
    }
  }

  /** The threshold rules weighed against the VM's latest samples. */
  const weighSamples = async (
    tx: Transaction,
    rows: VmRows,
    tenantId: string,
    vmId: string,
    envId: string | null,
  ) => {
    const latest = await rows.latestSampleEnd(vmId)
    if (latest === undefined) return
    for (const rule of await rows.rules()) {
      if (rule.kind !== RuleKind.threshold || !appliesTo(rule, envId)) continue
      const threshold = ruleOf(rule) as Extract<AlertRule, { kind: 'threshold' }>
      // The samples reaching back over the rule's duration, and the one before (it may cover its start).
      const since = new Date(latest.getTime() - (threshold.forSeconds + 3_600) * 1000)
      const points = await rows.points(vmId, threshold.metric, since, latest)
      const firing = (await rows.firing(rule.id, vmId)) !== undefined
      await transit(tx, rows, tenantId, rule, vmId, evaluateThreshold(threshold, points, firing))
    }
  }

  const vmOf = async (rows: VmRows, vmId: string) => {
    const row = await rows.vm(vmId)
    // Another organisation's VM and no VM look the same.
    if (row === undefined) throw new NotFoundError(`no VM ${vmId}`)
    return row
  }

  /**
   * The tenant's projection emptied and folded again from the stored history, VM by VM, in one
   * transaction: a reader sees the old rows or the new, never none.
   */
  const rebuild = (tenantId: string): Promise<{ vms: number }> =>
    db.withTenant(tenantId, async (tx) => {
      const rows = createVmRows(tx)
      await rows.clearVms()
      const ids = await rows.historyVmIds()
      for (const vmId of ids) await project(rows, tenantId, vmId)
      return { vms: ids.length }
    })

  return {
    rebuild,
    /**
     * A lifecycle message heard: appended to the VM's history once (by envelope id), its projection
     * folded again from the whole history (so delivery order does not matter), its alerts weighed, and
     * a migration in flight to the host it now runs on completed.
     */
    async record(tx: Transaction, tenantId: string, message: Envelope & VmEvent): Promise<void> {
      await asTenant(tx, tenantId)
      if (message.type === 'evt.vm.created' && message.data.tenantId !== tenantId)
        throw new InputError(
          `${message.type} ${message.id} names tenant ${message.data.tenantId} in its payload and ${tenantId} in its envelope`,
        )
      const rows = createVmRows(tx)
      const vmId = message.data.vmId
      const publishedAt = new Date(message.time)
      const appended = await rows.append(
        {
          message_id: message.id,
          tenant_id: tenantId,
          vm_id: vmId,
          type: message.type,
          occurred_at: occurredAtOf(message, publishedAt),
          published_at: publishedAt,
          data: message.data,
        },
        clock.now(),
      )
      if (!appended) return
      const state = await project(rows, tenantId, vmId)
      await weighPower(tx, rows, tenantId, state)
      if (message.type === 'evt.vm.migrated') {
        const pending = await rows.inFlight(vmId)
        if (pending !== undefined && pending.to_host === message.data.toNode)
          await rows.finishMigration(pending.id, {
            status: 'completed',
            at: new Date(message.data.completedTime),
            reason: null,
            retryable: null,
          })
      }
    },

    /** evt.sddc.vm.migrate.failed: the request it names fails (once; a late answer changes nothing). */
    async migrateFailed(tx: Transaction, tenantId: string, data: SddcVmMigrateFailed, at: Date) {
      await asTenant(tx, tenantId)
      if (!uuid.test(data.requestId)) return
      const rows = createVmRows(tx)
      const pending = await rows.inFlight(data.vmId)
      if (pending === undefined || pending.id !== data.requestId) return
      await rows.finishMigration(pending.id, {
        status: 'failed',
        at,
        reason: data.reason,
        retryable: data.retryable,
      })
    },

    /** evt.usage.sample of one VM (vmId): stored once, then the threshold rules weighed. */
    async sample(tx: Transaction, tenantId: string, messageId: string, data: UsageSample): Promise<void> {
      if (data.vmId === undefined) return
      await asTenant(tx, tenantId)
      const rows = createVmRows(tx)
      const stored = await rows.insertSample({
        message_id: messageId,
        tenant_id: tenantId,
        vm_id: data.vmId,
        env_id: data.envId,
        window_start: new Date(data.windowStart),
        window_end: new Date(data.windowEnd),
        cpu_percent: data.cpuPercent ?? null,
        memory_percent: data.memoryPercent ?? null,
        disk_percent: data.diskPercent ?? null,
        disk_read_bytes: data.diskReadBytes ?? null,
        disk_write_bytes: data.diskWriteBytes ?? null,
        network_rx_bytes: data.networkRxBytes ?? null,
        network_tx_bytes: data.networkTxBytes ?? null,
      })
      if (stored) await weighSamples(tx, rows, tenantId, data.vmId, data.envId)
    },

    /** Every tenant's projection rebuilt (rebuild, tenant by tenant). */
    async rebuildAll(): Promise<{ tenants: number; vms: number }> {
      const tenants = await db.transaction((tx) => createVmRows(tx).tenants())
      let vms = 0
      for (const tenantId of tenants) vms += (await rebuild(tenantId)).vms
      return { tenants: tenants.length, vms }
    },

    /** GET /v1/vms: the organisation's VMs by id, a page at a time. */
    async list(
      tenantId: string,
      filter: { envId?: string; powerState?: string; host?: string },
      page: { cursor?: string; limit: number },
    ) {
      return db.withTenant(tenantId, async (tx) => {
        const found = await createVmRows(tx).vms(
          { ...filter, ...(page.cursor === undefined ? {} : { after: page.cursor }) },
          page.limit + 1,
        )
        const items = found.slice(0, page.limit)
        return {
          items: items.map(vmView),
          next: found.length > page.limit ? (items.at(-1) as VmRow).vm_id : null,
        }
      })
    },

    /** GET /v1/vms/:vmId */
    async get(tenantId: string, vmId: string) {
      return db.withTenant(tenantId, async (tx) => vmView(await vmOf(createVmRows(tx), vmId)))
    },

    /** GET /v1/vms/:vmId/history: its lifecycle events in the order they are folded. */
    async history(tenantId: string, vmId: string) {
      return db.withTenant(tenantId, async (tx) => {
        const rows = createVmRows(tx)
        await vmOf(rows, vmId)
        return {
          items: (await rows.history(vmId)).map((row) => ({
            messageId: row.message_id,
            type: row.type,
            occurredAt: row.occurred_at.toISOString(),
            publishedAt: row.published_at.toISOString(),
            data: row.data as Record<string, unknown>,
          })),
        }
      })
    },

    /** GET /v1/vms/:vmId/metrics: each series rolled up per bucket (avg, max, sum, count); the range checked (range.ts). */
    async metrics(
      tenantId: string,
      vmId: string,
      query: { from?: string | undefined; to?: string | undefined; step?: string | undefined },
    ) {
      return db.withTenant(tenantId, async (tx) => {
        const rows = createVmRows(tx)
        // The VM first: another organisation's is absent (404) whatever the range asked.
        await vmOf(rows, vmId)
        const range = parseRange(query)
        const buckets = await rows.buckets(vmId, range.from, range.to, range.stepSeconds)
        const series = (Object.keys(sampleColumns) as SeriesName[]).map((name) => ({
          name,
          unit: units[name],
          points: buckets.flatMap((b) => {
            const value = b.of(sampleColumns[name])
            return value.count === 0
              ? []
              : [
                  {
                    at: bucketOf(new Date(b.bucket * 1000), range.stepSeconds).toISOString(),
                    avg: value.avg as number,
                    max: value.max as number,
                    sum: value.sum as number,
                    samples: value.count,
                  },
                ]
          }),
        }))
        return {
          vmId,
          from: range.from.toISOString(),
          to: range.to.toISOString(),
          stepSeconds: range.stepSeconds,
          series,
        }
      })
    },

    /** GET /v1/monitoring/alerts */
    async alerts(tenantId: string, filter: { state?: string; vmId?: string }, limit: number) {
      return db.withTenant(tenantId, async (tx) => ({
        items: (await createVmRows(tx).alerts(filter, limit)).map((a) => ({
          id: a.id,
          ruleId: a.rule_id,
          ruleName: a.rule_name,
          kind: a.kind,
          vmId: a.vm_id,
          state: a.state,
          firstSeen: a.first_seen.toISOString(),
          resolvedAt: iso(a.resolved_at),
          value: a.value,
          detail: a.detail,
        })),
      }))
    },

    async rules(tenantId: string) {
      return db.withTenant(tenantId, async (tx) => ({
        items: (await createVmRows(tx).rules()).map(ruleView),
      }))
    },

    /** POST /v1/monitoring/alert-rules: a threshold rule names its metric, level and duration; powered-off none. */
    async createRule(principal: Principal, tenantId: string, input: NewRule) {
      const violations =
        input.kind === RuleKind.threshold
          ? (['metric', 'above', 'forSeconds'] as const)
              .filter((field) => input[field] === undefined)
              .map((field) => ({ path: `/body/${field}`, message: 'is required for a threshold rule' }))
          : (['metric', 'above', 'forSeconds'] as const)
              .filter((field) => input[field] !== undefined)
              .map((field) => ({ path: `/body/${field}`, message: 'is not allowed for a powered-off rule' }))
      if (violations.length > 0)
        throw new InputError(
          input.kind === RuleKind.threshold
            ? 'a threshold rule fires when metric stays above a level for forSeconds: give metric, above and forSeconds'
            : 'a powered-off rule fires on any stop RXT Deploy did not cause; it takes no metric, above or forSeconds',
          violations,
        )
      return db.withTenant(tenantId, async (tx) => {
        const rows = createVmRows(tx)
        if ((await rows.ruleByName(input.name)) !== undefined)
          throw new ConflictError(
            `an alert rule ${input.name} exists: delete it first or choose another name`,
          )
        const row = await rows.insertRule({
          id: newId(),
          tenant_id: tenantId,
          name: input.name,
          kind: input.kind,
          metric: input.metric ?? null,
          above: input.above ?? null,
          for_seconds: input.forSeconds ?? null,
          env_id: input.envId ?? null,
          created_by: actorOf(principal),
          created_at: clock.now(),
        })
        return ruleView(row)
      })
    },

    async deleteRule(tenantId: string, ruleId: string) {
      await db.withTenant(tenantId, async (tx) => {
        const gone = uuid.test(ruleId) && (await createVmRows(tx).deleteRule(ruleId))
        if (!gone) throw new NotFoundError(`no alert rule ${ruleId}`)
      })
    },

    /**
     * POST /v1/vms/:vmId/migrate: a durable request and cmd.sddc.vm.migrate in one transaction (the
     * outbox); done when evt.vm.migrated says the VM runs on toHost, failed on evt.sddc.vm.migrate.failed.
     */
    async migrate(principal: Principal, tenantId: string, vmId: string, toHost: string) {
      return db.withTenant(tenantId, async (tx) => {
        const rows = createVmRows(tx)
        const vm = await vmOf(rows, vmId)
        if (vm.host === toHost)
          throw new InputError(`VM ${vmId} already runs on ${toHost}: name another host`, [
            { path: '/body/toHost', message: 'is the host the VM runs on' },
          ])
        const pending = await rows.inFlight(vmId)
        if (pending !== undefined)
          throw new ConflictError(
            `VM ${vmId} is being moved to ${pending.to_host} (migration ${pending.id}): wait for it to finish`,
          )
        const row = await rows.insertMigration({
          id: newId(),
          tenant_id: tenantId,
          vm_id: vmId,
          from_host: vm.host,
          to_host: toHost,
          status: 'requested',
          requested_by: actorOf(principal),
          requested_at: clock.now(),
        })
        const data: SddcVmMigrate = { vmId, toHost, requestId: row.id }
        await bus.publish(tx, {
          type: 'cmd.sddc.vm.migrate',
          tenantId,
          key: vmId,
          idempotencyKey: `vm-migrate:${row.id}`,
          data,
        })
        return migrationView(row)
      })
    },

    /**
     * The `migration-deadline` job: requests with no answer for VMS_MIGRATION_TIMEOUT_SECONDS (as of
     * `now`) fail, retryable; a VM's next migration may then be asked. An evt.vm.migrated that comes
     * later still moves the VM in its projection.
     */
    async expireMigrations(now: Date = clock.now()): Promise<number> {
      const timeout = deps.config.VMS_MIGRATION_TIMEOUT_SECONDS
      return db.transaction((tx) =>
        createVmRows(tx).expireMigrations(
          new Date(now.getTime() - timeout * 1000),
          now,
          `no answer from the SDDC Flex adapter within ${timeout} s (VMS_MIGRATION_TIMEOUT_SECONDS): see where the VM runs (GET /v1/vms/{vmId}) and ask again`,
        ),
      )
    },

    /** The `purge-samples` job: every organisation's samples older than VMS_SAMPLE_RETENTION_DAYS (as of `now`). */
    async purgeSamples(now: Date = clock.now()): Promise<number> {
      const days = deps.config.VMS_SAMPLE_RETENTION_DAYS
      return db.transaction((tx) =>
        createVmRows(tx).purgeSamples(new Date(now.getTime() - days * 86_400_000)),
      )
    },

    /** GET /v1/vms/:vmId/migrations/:migrationId */
    async migration(tenantId: string, vmId: string, migrationId: string) {
      return db.withTenant(tenantId, async (tx) => {
        const row = uuid.test(migrationId) ? await createVmRows(tx).migration(vmId, migrationId) : undefined
        if (row === undefined) throw new NotFoundError(`no migration ${migrationId} of VM ${vmId}`)
        return migrationView(row)
      })
    },

    /** Every projected row of a tenant, as stored (what a rebuild must reproduce). */
    async projectionRows(tenantId: string): Promise<VmRow[]> {
      return db.withTenant(tenantId, (tx) => createVmRows(tx).allVms())
    },
  }
}
export type Vms = ReturnType<typeof createVms>
export type { HistoryEntry }
