-- Policy bundles: what operators uploaded (and the release shipped), each kept by its digest, and the
-- one active now. Platform-level: bundles decide for every tenant; only operators change them.
CREATE TABLE bundles (
  revision text PRIMARY KEY,                -- sha256:<hex> of the archive
  archive bytea NOT NULL,                   -- the opa build output, as uploaded
  size integer NOT NULL,
  entrypoints jsonb NOT NULL,
  shipped boolean NOT NULL DEFAULT false,   -- the bundle of a release (services/policy/bundle)
  uploaded_by text NOT NULL,                -- user:<id>, or shipped
  uploaded_at timestamptz NOT NULL DEFAULT now()
);

-- The active bundle: one row. Every process reads it on a short poll and loads a new one when it
-- changes; shipped_default: the release's bundle, replaced by the next release's at start.
CREATE TABLE active_bundle (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  revision text NOT NULL REFERENCES bundles (revision),
  shipped_default boolean NOT NULL,
  activated_by text NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT now()
);

-- Every decision, for the tenant it was made for. Inputs are kept as a digest only (secret-looking
-- values masked before hashing).
CREATE TABLE decisions (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  subject text,                             -- who or what asked: user:<id>, a deployment
  action text NOT NULL,
  entity text,                              -- what it is about: an environment, a deployment
  input_digest text NOT NULL,
  bundle_revision text NOT NULL,
  allow boolean NOT NULL,
  violations jsonb NOT NULL,                -- [{policy, rule, severity, message}] that refused
  waived jsonb NOT NULL DEFAULT '[]',       -- [{policy, message, overrideId}] an override let through
  warnings jsonb NOT NULL DEFAULT '[]',     -- [{policy, rule, severity, message}] that did not refuse
  latency_us integer NOT NULL,
  decided_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_time ON decisions (tenant_id, decided_at DESC, id DESC);

ALTER TABLE decisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE decisions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON decisions
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- Break-glass overrides: a deployer asks, another person holding policy:override approves (for a time)
-- or rejects.
CREATE TABLE overrides (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  deployment_id text NOT NULL,
  policies text[] NOT NULL,
  reason text NOT NULL,
  ttl_minutes integer NOT NULL CHECK (ttl_minutes BETWEEN 1 AND 1440),
  status text NOT NULL CHECK (status IN ('requested', 'approved', 'rejected')),
  requested_by text NOT NULL,
  requested_by_user text NOT NULL,          -- the person, so that nobody approves their own
  decided_by text,
  note text,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz
);
CREATE INDEX overrides_deployment ON overrides (tenant_id, deployment_id) WHERE status = 'approved';

ALTER TABLE overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE overrides FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON overrides
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
