-- The audit trail: per tenant, an append-only hash chain of records (ADR 0024). The tenant is an
-- organisation id or '_platform', the platform's own trail (requests with no organisation, platform-wide
-- events): organisation ids are UUIDs and never take that form.

-- Refuses any change to a record: the trail is append-only. Old months leave by whole partitions,
-- once archived (src/archive.ts), never by UPDATE, DELETE or TRUNCATE.
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only: % refused on %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE audit_records (
  tenant text NOT NULL,
  sequence bigint NOT NULL CHECK (sequence >= 1),   -- per tenant, gapless (chain_heads serialises it)
  recorded_at timestamptz NOT NULL,
  source text NOT NULL,                             -- 'http', or the event type a tap heard
  actor text NOT NULL,
  action text NOT NULL,
  object text NOT NULL,
  request_id text,
  outcome text NOT NULL,
  data jsonb,                                       -- the message's payload: never a secret value, by contract
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (tenant, sequence, recorded_at)
) PARTITION BY RANGE (recorded_at);
-- Nothing is ever refused for want of a month: a record past the months made ahead lands here.
CREATE TABLE audit_records_default PARTITION OF audit_records DEFAULT;
CREATE INDEX audit_records_tenant_time ON audit_records (tenant, recorded_at);

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON audit_records
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON audit_records
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON audit_records_default
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
-- The context's own role may not change records either (on PGlite, and for a superuser, the trigger
-- is what holds).
REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM CURRENT_USER;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_records_default FROM CURRENT_USER;

-- The month of `month_start` (its first day) as a partition, unless it exists; a month whose records
-- already fell into the default partition is left there (the job says so and goes on).
CREATE FUNCTION audit_ensure_month(month_start date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  name text := 'audit_records_' || to_char(month_start, 'YYYY_MM');
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format(
    'CREATE TABLE %I PARTITION OF audit_records FOR VALUES FROM (%L) TO (%L)',
    name, month_start::timestamptz, (month_start + interval '1 month')::timestamptz);
  EXECUTE format(
    'CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()',
    name);
  EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM CURRENT_USER', name);
  RETURN true;
END
$$;
SELECT audit_ensure_month(date_trunc('month', now())::date);
SELECT audit_ensure_month((date_trunc('month', now()) + interval '1 month')::date);

ALTER TABLE audit_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_records
  USING (tenant = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant = current_setting('rxt.tenant_id', true));

-- The messages already recorded, by envelope id: a replayed message appends nothing.
CREATE TABLE recorded_messages (
  message_id uuid PRIMARY KEY,
  tenant text NOT NULL,
  sequence bigint NOT NULL
);

-- Each tenant's chain head, locked FOR UPDATE by every append: one tenant's appends are serialised,
-- its sequence stays gapless. It holds no record's content (no row-level security: the jobs walk it).
CREATE TABLE chain_heads (
  tenant text PRIMARY KEY,
  sequence bigint NOT NULL,                 -- 0: no record yet
  hash text NOT NULL,
  checkpointed bigint NOT NULL DEFAULT 0,   -- the sequence of its last checkpoint
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Signed chain heads (as Certificate Transparency's signed tree heads): a tail cut off the chain is
-- found against the last of them.
CREATE TABLE checkpoints (
  tenant text NOT NULL,
  sequence bigint NOT NULL,
  head_hash text NOT NULL,
  key_id text NOT NULL,
  signature text NOT NULL,                  -- Ed25519 over the canonical checkpoint, base64
  signed_at timestamptz NOT NULL,
  PRIMARY KEY (tenant, sequence)
);
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON checkpoints
  USING (tenant = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant = current_setting('rxt.tenant_id', true));

-- Ranges of a tenant's chain moved to the archive (src/archive.ts): verify reads them there.
CREATE TABLE archived_ranges (
  tenant text NOT NULL,
  first_sequence bigint NOT NULL,
  last_sequence bigint NOT NULL,
  archive_key text NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, first_sequence)
);
ALTER TABLE archived_ranges ENABLE ROW LEVEL SECURITY;
ALTER TABLE archived_ranges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON archived_ranges
  USING (tenant = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant = current_setting('rxt.tenant_id', true));
