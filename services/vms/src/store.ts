import type { Queryable } from '@rxt/kit'
import type { AlertMetric, MetricPoint, RuleKind } from './domain/alerts.ts'
import type { HistoryEntry, LastMigration, PowerState, VmEvent, VmState } from './domain/projection.ts'

/** SQL on the vms schema only; tenant statements run with `rxt.tenant_id` set (row-level security). */

export interface EventRow {
  [column: string]: unknown
  message_id: string
  tenant_id: string
  vm_id: string
  type: VmEvent['type']
  occurred_at: Date
  published_at: Date
  data: unknown
  recorded_at: Date
}

export interface VmRow {
  [column: string]: unknown
  tenant_id: string
  vm_id: string
  name: string | null
  env_id: string | null
  deployment_id: string | null
  host: string | null
  power_state: PowerState
  spec: VmState['spec']
  ip_addresses: string[]
  tags: string[]
  created_at: Date | null
  started_at: Date | null
  stopped_at: Date | null
  stop_reason: string | null
  last_migration: LastMigration | null
  events: number
  last_event_at: Date
}

export interface RuleRow {
  [column: string]: unknown
  id: string
  tenant_id: string
  name: string
  kind: RuleKind
  metric: AlertMetric | null
  above: number | null
  for_seconds: number | null
  env_id: string | null
  created_by: string
  created_at: Date
}

export interface AlertRow {
  [column: string]: unknown
  id: string
  rule_id: string
  rule_name: string
  kind: RuleKind
  vm_id: string
  state: 'firing' | 'resolved'
  first_seen: Date
  resolved_at: Date | null
  value: number | null
  detail: string
}

export interface MigrationRow {
  [column: string]: unknown
  id: string
  tenant_id: string
  vm_id: string
  from_host: string | null
  to_host: string
  status: 'requested' | 'completed' | 'failed'
  requested_by: string
  requested_at: Date
  finished_at: Date | null
  reason: string | null
  retryable: boolean | null
}

export interface SampleInput {
  readonly message_id: string
  readonly tenant_id: string
  readonly vm_id: string
  readonly env_id: string
  readonly window_start: Date
  readonly window_end: Date
  readonly cpu_percent: number | null
  readonly memory_percent: number | null
  readonly disk_percent: number | null
  readonly disk_read_bytes: number | null
  readonly disk_write_bytes: number | null
  readonly network_rx_bytes: number | null
  readonly network_tx_bytes: number | null
}

/** The sample columns each metric series reads. */
export const sampleColumns = {
  cpu: 'cpu_percent',
  memory: 'memory_percent',
  disk: 'disk_percent',
  diskReadBytes: 'disk_read_bytes',
  diskWriteBytes: 'disk_write_bytes',
  networkRxBytes: 'network_rx_bytes',
  networkTxBytes: 'network_tx_bytes',
} as const
export type SeriesName = keyof typeof sampleColumns

const vmColumns =
  'tenant_id, vm_id, name, env_id, deployment_id, host, power_state, spec, ip_addresses, tags, created_at, started_at, stopped_at, stop_reason, last_migration, events, last_event_at'
const ruleColumns = 'id, tenant_id, name, kind, metric, above, for_seconds, env_id, created_by, created_at'
const migrationColumns =
  'id, tenant_id, vm_id, from_host, to_host, status, requested_by, requested_at, finished_at, reason, retryable'

/** Numbers a driver may give as strings (bigint, numeric): as numbers. */
const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value))

export const entryOf = (row: EventRow): HistoryEntry =>
  ({
    type: row.type,
    data: row.data,
    messageId: row.message_id,
    occurredAt: row.occurred_at,
    publishedAt: row.published_at,
  }) as HistoryEntry

export function createVmRows(tx: Queryable) {
  return {
    /** Appends one event; false when its message was recorded before (a redelivery, a replay). */
    async append(row: Omit<EventRow, 'recorded_at'>, at: Date): Promise<boolean> {
      const { rows } = await tx.query(
        `INSERT INTO vm_events (message_id, tenant_id, vm_id, type, occurred_at, published_at, data, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING RETURNING message_id`,
        [
          row.message_id,
          row.tenant_id,
          row.vm_id,
          row.type,
          row.occurred_at,
          row.published_at,
          JSON.stringify(row.data),
          at,
        ],
      )
      if (rows.length === 0) return false
      await tx.query('INSERT INTO vm_tenants (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING', [row.tenant_id])
      return true
    },

    /** A VM's history in the order it is folded (projection.ts: compareEntries does the same in code). */
    async history(vmId: string): Promise<EventRow[]> {
      const { rows } = await tx.query<EventRow>(
        `SELECT message_id, tenant_id, vm_id, type, occurred_at, published_at, data, recorded_at
           FROM vm_events WHERE vm_id = $1
          ORDER BY occurred_at, CASE type WHEN 'evt.vm.created' THEN 0 WHEN 'evt.sddc.vm.created' THEN 1 ELSE 2 END,
                   published_at, message_id`,
        [vmId],
      )
      return rows
    },

    /** Every VM id of the tenant that has a history. */
    async historyVmIds(): Promise<string[]> {
      const { rows } = await tx.query<{ vm_id: string }>(
        'SELECT DISTINCT vm_id FROM vm_events ORDER BY vm_id',
      )
      return rows.map((r) => r.vm_id)
    },

    async tenants(): Promise<string[]> {
      const { rows } = await tx.query<{ tenant_id: string }>(
        'SELECT tenant_id FROM vm_tenants ORDER BY tenant_id',
      )
      return rows.map((r) => r.tenant_id)
    },

    async upsertVm(state: VmState): Promise<void> {
      await tx.query(
        `INSERT INTO vms (${vmColumns})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (tenant_id, vm_id) DO UPDATE SET
           name = EXCLUDED.name, env_id = EXCLUDED.env_id, deployment_id = EXCLUDED.deployment_id,
           host = EXCLUDED.host, power_state = EXCLUDED.power_state, spec = EXCLUDED.spec,
           ip_addresses = EXCLUDED.ip_addresses, tags = EXCLUDED.tags, created_at = EXCLUDED.created_at,
           started_at = EXCLUDED.started_at, stopped_at = EXCLUDED.stopped_at,
           stop_reason = EXCLUDED.stop_reason, last_migration = EXCLUDED.last_migration,
           events = EXCLUDED.events, last_event_at = EXCLUDED.last_event_at`,
        [
          state.tenantId,
          state.vmId,
          state.name,
          state.envId,
          state.deploymentId,
          state.host,
          state.powerState,
          state.spec === null ? null : JSON.stringify(state.spec),
          JSON.stringify(state.ipAddresses),
          JSON.stringify(state.tags),
          state.createdAt,
          state.startedAt,
          state.stoppedAt,
          state.stopReason,
          state.lastMigration === null ? null : JSON.stringify(state.lastMigration),
          state.events,
          state.lastEventAt,
        ],
      )
    },

    /** The tenant's projection emptied (a rebuild folds it again from the history). */
    async clearVms(): Promise<void> {
      await tx.query('DELETE FROM vms')
    },

    async vm(vmId: string): Promise<VmRow | undefined> {
      const { rows } = await tx.query<VmRow>(`SELECT ${vmColumns} FROM vms WHERE vm_id = $1`, [vmId])
      return rows[0]
    },

    /** A page of VMs by id, after `after`. */
    async vms(
      filter: { envId?: string; powerState?: string; host?: string; after?: string },
      limit: number,
    ): Promise<VmRow[]> {
      const { rows } = await tx.query<VmRow>(
        `SELECT ${vmColumns} FROM vms
          WHERE ($1::text IS NULL OR env_id = $1) AND ($2::text IS NULL OR power_state = $2)
            AND ($3::text IS NULL OR host = $3) AND ($4::text IS NULL OR vm_id > $4)
          ORDER BY vm_id LIMIT $5`,
        [filter.envId ?? null, filter.powerState ?? null, filter.host ?? null, filter.after ?? null, limit],
      )
      return rows
    },

    /** Every projected row of the tenant, in key order (what a rebuild must reproduce). */
    async allVms(): Promise<VmRow[]> {
      const { rows } = await tx.query<VmRow>(`SELECT ${vmColumns} FROM vms ORDER BY vm_id`)
      return rows
    },

    async insertSample(row: SampleInput): Promise<boolean> {
      const { rows } = await tx.query(
        `INSERT INTO vm_samples (message_id, tenant_id, vm_id, env_id, window_start, window_end, cpu_percent,
           memory_percent, disk_percent, disk_read_bytes, disk_write_bytes, network_rx_bytes, network_tx_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (message_id) DO NOTHING RETURNING message_id`,
        [
          row.message_id,
          row.tenant_id,
          row.vm_id,
          row.env_id,
          row.window_start,
          row.window_end,
          row.cpu_percent,
          row.memory_percent,
          row.disk_percent,
          row.disk_read_bytes,
          row.disk_write_bytes,
          row.network_rx_bytes,
          row.network_tx_bytes,
        ],
      )
      return rows.length > 0
    },

    /** One metric's points of a VM whose windows end in (since, until]. */
    async points(vmId: string, metric: AlertMetric, since: Date, until: Date): Promise<MetricPoint[]> {
      const column = sampleColumns[metric]
      const { rows } = await tx.query<{ window_start: Date; window_end: Date; value: unknown }>(
        `SELECT window_start, window_end, ${column} AS value FROM vm_samples
          WHERE vm_id = $1 AND window_end > $2 AND window_end <= $3 AND ${column} IS NOT NULL
          ORDER BY window_end`,
        [vmId, since, until],
      )
      return rows.map((r) => ({
        windowStart: r.window_start,
        windowEnd: r.window_end,
        value: Number(r.value),
      }))
    },

    /** The VM's latest sample end, if any. */
    async latestSampleEnd(vmId: string): Promise<Date | undefined> {
      const { rows } = await tx.query<{ at: Date | null }>(
        'SELECT max(window_end) AS at FROM vm_samples WHERE vm_id = $1',
        [vmId],
      )
      return rows[0]?.at ?? undefined
    },

    /** Samples whose windows end in [from, to), rolled up in buckets of `stepSeconds` aligned to the epoch. */
    async buckets(vmId: string, from: Date, to: Date, stepSeconds: number) {
      const parts = Object.values(sampleColumns).flatMap((c) => [
        `avg(${c})::double precision AS ${c}_avg`,
        `max(${c})::double precision AS ${c}_max`,
        `sum(${c})::double precision AS ${c}_sum`,
        `count(${c})::integer AS ${c}_count`,
      ])
      const { rows } = await tx.query<Record<string, unknown>>(
        `SELECT (floor(extract(epoch FROM window_end) / $4) * $4)::double precision AS bucket, ${parts.join(', ')}
           FROM vm_samples WHERE vm_id = $1 AND window_end >= $2 AND window_end < $3
          GROUP BY 1 ORDER BY 1`,
        [vmId, from, to, stepSeconds],
      )
      return rows.map((row) => ({
        bucket: Number(row.bucket),
        of: (column: string) => ({
          avg: num(row[`${column}_avg`]),
          max: num(row[`${column}_max`]),
          sum: num(row[`${column}_sum`]),
          count: Number(row[`${column}_count`] ?? 0),
        }),
      }))
    },

    /** Every organisation's samples whose window ended before `before` (the purge-samples job). */
    async purgeSamples(before: Date): Promise<number> {
      await tx.query("SELECT set_config('rxt.sweep', 'sample-retention', true)")
      const { rowCount } = await tx.query('DELETE FROM vm_samples WHERE window_end < $1', [before])
      return rowCount
    },

    async rules(): Promise<RuleRow[]> {
      const { rows } = await tx.query<RuleRow>(
        `SELECT ${ruleColumns} FROM alert_rules ORDER BY created_at, id`,
      )
      return rows.map((r) => ({ ...r, above: num(r.above) }))
    },

    async ruleByName(name: string): Promise<RuleRow | undefined> {
      const { rows } = await tx.query<RuleRow>(`SELECT ${ruleColumns} FROM alert_rules WHERE name = $1`, [
        name,
      ])
      return rows[0]
    },

    async insertRule(row: RuleRow): Promise<RuleRow> {
      const { rows } = await tx.query<RuleRow>(
        `INSERT INTO alert_rules (${ruleColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING ${ruleColumns}`,
        [
          row.id,
          row.tenant_id,
          row.name,
          row.kind,
          row.metric,
          row.above,
          row.for_seconds,
          row.env_id,
          row.created_by,
          row.created_at,
        ],
      )
      return { ...(rows[0] as RuleRow), above: num(rows[0]?.above) }
    },

    async deleteRule(id: string): Promise<boolean> {
      const { rows } = await tx.query('DELETE FROM alert_rules WHERE id = $1 RETURNING id', [id])
      return rows.length > 0
    },

    async firing(ruleId: string, vmId: string): Promise<{ id: string; first_seen: Date } | undefined> {
      const { rows } = await tx.query<{ id: string; first_seen: Date }>(
        "SELECT id, first_seen FROM alerts WHERE rule_id = $1 AND vm_id = $2 AND state = 'firing' FOR UPDATE",
        [ruleId, vmId],
      )
      return rows[0]
    },

    async fire(row: {
      id: string
      tenant_id: string
      rule_id: string
      vm_id: string
      first_seen: Date
      value: number | null
      detail: string
    }): Promise<boolean> {
      const { rows } = await tx.query(
        `INSERT INTO alerts (id, tenant_id, rule_id, vm_id, state, first_seen, value, detail)
         VALUES ($1, $2, $3, $4, 'firing', $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id`,
        [row.id, row.tenant_id, row.rule_id, row.vm_id, row.first_seen, row.value, row.detail],
      )
      return rows.length > 0
    },

    /** Resolved, never before it was first seen; the time it was resolved at. */
    async resolve(id: string, at: Date): Promise<Date> {
      const { rows } = await tx.query<{ resolved_at: Date }>(
        "UPDATE alerts SET state = 'resolved', resolved_at = greatest($2, first_seen) WHERE id = $1 RETURNING resolved_at",
        [id, at],
      )
      return rows[0]?.resolved_at ?? at
    },

    async alerts(filter: { state?: string; vmId?: string }, limit: number): Promise<AlertRow[]> {
      const { rows } = await tx.query<AlertRow>(
        `SELECT a.id, a.rule_id, r.name AS rule_name, r.kind, a.vm_id, a.state, a.first_seen, a.resolved_at,
                a.value, a.detail
           FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
          WHERE ($1::text IS NULL OR a.state = $1) AND ($2::text IS NULL OR a.vm_id = $2)
          ORDER BY a.first_seen DESC, a.id LIMIT $3`,
        [filter.state ?? null, filter.vmId ?? null, limit],
      )
      return rows.map((r) => ({ ...r, value: num(r.value) }))
    },

    async insertMigration(row: Omit<MigrationRow, 'finished_at' | 'reason' | 'retryable'>) {
      const { rows } = await tx.query<MigrationRow>(
        `INSERT INTO vm_migrations (id, tenant_id, vm_id, from_host, to_host, status, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${migrationColumns}`,
        [
          row.id,
          row.tenant_id,
          row.vm_id,
          row.from_host,
          row.to_host,
          row.status,
          row.requested_by,
          row.requested_at,
        ],
      )
      return rows[0] as MigrationRow
    },

    async migration(vmId: string, id: string): Promise<MigrationRow | undefined> {
      const { rows } = await tx.query<MigrationRow>(
        `SELECT ${migrationColumns} FROM vm_migrations WHERE vm_id = $1 AND id = $2`,
        [vmId, id],
      )
      return rows[0]
    },

    async inFlight(vmId: string): Promise<MigrationRow | undefined> {
      const { rows } = await tx.query<MigrationRow>(
        `SELECT ${migrationColumns} FROM vm_migrations WHERE vm_id = $1 AND status = 'requested' FOR UPDATE`,
        [vmId],
      )
      return rows[0]
    },

    /**
     * Every organisation's requests in flight since before `before`, failed (in a transaction that set
     * rxt.sweep to migration-deadline: the policies of migration 0002 let it see those rows only).
     */
    async expireMigrations(before: Date, at: Date, reason: string): Promise<number> {
      await tx.query("SELECT set_config('rxt.sweep', 'migration-deadline', true)")
      const { rowCount } = await tx.query(
        `UPDATE vm_migrations SET status = 'failed', finished_at = $2, reason = $3, retryable = true
          WHERE status = 'requested' AND requested_at < $1`,
        [before, at, reason],
      )
      return rowCount
    },

    async finishMigration(
      id: string,
      outcome: { status: 'completed' | 'failed'; at: Date; reason: string | null; retryable: boolean | null },
    ): Promise<void> {
      await tx.query(
        `UPDATE vm_migrations SET status = $2, finished_at = $3, reason = $4, retryable = $5
          WHERE id = $1 AND status = 'requested'`,
        [id, outcome.status, outcome.at, outcome.reason, outcome.retryable],
      )
    },
  }
}
export type VmRows = ReturnType<typeof createVmRows>
