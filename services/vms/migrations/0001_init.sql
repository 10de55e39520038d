-- VMs: the event-sourced VM inventory (seed 002), its samples and alerts (seed 003), and migrations.
-- Tenant tables are under row-level security on rxt.tenant_id. The tenant is the envelope's (an
-- organisation id), kept as text as the envelope carries it.

CREATE FUNCTION vms_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a VM''s history is append-only: % refused on %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The history: every lifecycle message of a VM, once (by envelope id), never changed. The projections
-- below are its fold (src/domain/projection.ts) and can be rebuilt from it at any time.
CREATE TABLE vm_events (
  message_id uuid PRIMARY KEY,
  tenant_id text NOT NULL,
  vm_id text NOT NULL,
  type text NOT NULL,
  occurred_at timestamptz NOT NULL,          -- the payload's own time, else the envelope's
  published_at timestamptz NOT NULL,         -- the envelope's time
  data jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vm_events_vm ON vm_events (tenant_id, vm_id, occurred_at);
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON vm_events
  FOR EACH ROW EXECUTE FUNCTION vms_refuse_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON vm_events
  FOR EACH STATEMENT EXECUTE FUNCTION vms_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON vm_events FROM CURRENT_USER;
ALTER TABLE vm_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE vm_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON vm_events
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- The tenants that have a history: what a rebuild of every tenant walks (no content, no RLS).
CREATE TABLE vm_tenants (
  tenant_id text PRIMARY KEY
);

-- The projection of each VM (list and details): nothing here that the history does not say.
CREATE TABLE vms (
  tenant_id text NOT NULL,
  vm_id text NOT NULL,
  name text,
  env_id text,
  deployment_id text,
  host text,
  power_state text NOT NULL CHECK (power_state IN ('unknown', 'on', 'off')),
  spec jsonb,
  ip_addresses jsonb NOT NULL DEFAULT '[]',
  tags jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz,
  started_at timestamptz,
  stopped_at timestamptz,
  stop_reason text,
  last_migration jsonb,
  events integer NOT NULL,
  last_event_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, vm_id)
);
CREATE INDEX vms_env ON vms (tenant_id, env_id, vm_id);
ALTER TABLE vms ENABLE ROW LEVEL SECURITY;
ALTER TABLE vms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON vms
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- Per-VM samples (evt.usage.sample with a vmId), once by envelope id.
CREATE TABLE vm_samples (
  message_id uuid PRIMARY KEY,
  tenant_id text NOT NULL,
  vm_id text NOT NULL,
  env_id text NOT NULL,
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  cpu_percent double precision,
  memory_percent double precision,
  disk_percent double precision,
  disk_read_bytes bigint,
  disk_write_bytes bigint,
  network_rx_bytes bigint,
  network_tx_bytes bigint
);
CREATE INDEX vm_samples_vm ON vm_samples (tenant_id, vm_id, window_end);
ALTER TABLE vm_samples ENABLE ROW LEVEL SECURITY;
ALTER TABLE vm_samples FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON vm_samples
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- An organisation's alert rules: a threshold (metric above a level for a duration) or powered-off.
CREATE TABLE alert_rules (
  id uuid PRIMARY KEY,
  tenant_id text NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('threshold', 'powered-off')),
  metric text CHECK (metric IN ('cpu', 'memory', 'disk')),
  above double precision CHECK (above >= 0 AND above < 100),
  for_seconds integer CHECK (for_seconds >= 60),
  env_id text,                                -- only this environment's VMs; null: every VM
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  CHECK ((kind = 'threshold') = (metric IS NOT NULL AND above IS NOT NULL AND for_seconds IS NOT NULL))
);
CREATE UNIQUE INDEX alert_rules_name ON alert_rules (tenant_id, name);
ALTER TABLE alert_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON alert_rules
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- Alerts: one per rule and VM at a time while it fires; resolved ones stay as the record. A rule
-- deleted takes its alerts with it.
CREATE TABLE alerts (
  id uuid PRIMARY KEY,
  tenant_id text NOT NULL,
  rule_id uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  vm_id text NOT NULL,
  state text NOT NULL CHECK (state IN ('firing', 'resolved')),
  first_seen timestamptz NOT NULL,
  resolved_at timestamptz,
  value double precision,
  detail text NOT NULL,
  CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_firing ON alerts (rule_id, vm_id) WHERE state = 'firing';
CREATE INDEX alerts_tenant ON alerts (tenant_id, first_seen DESC);
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON alerts
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- Migration requests (POST /v1/vms/:vmId/migrate): the durable row behind cmd.sddc.vm.migrate, done
-- when evt.vm.migrated says the VM runs on to_host, failed on evt.sddc.vm.migrate.failed.
CREATE TABLE vm_migrations (
  id uuid PRIMARY KEY,
  tenant_id text NOT NULL,
  vm_id text NOT NULL,
  from_host text,
  to_host text NOT NULL,
  status text NOT NULL CHECK (status IN ('requested', 'completed', 'failed')),
  requested_by text NOT NULL,
  requested_at timestamptz NOT NULL,
  finished_at timestamptz,
  reason text,
  retryable boolean,
  CHECK ((status = 'requested') = (finished_at IS NULL))
);
-- One migration of a VM in flight at a time.
CREATE UNIQUE INDEX vm_migrations_in_flight ON vm_migrations (tenant_id, vm_id) WHERE status = 'requested';
ALTER TABLE vm_migrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE vm_migrations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON vm_migrations
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
