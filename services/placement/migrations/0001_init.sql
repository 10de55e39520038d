-- Placement's read models, kept from events (no other context's tables are read), and its decisions.

-- The providers as the router tells of them (evt.provider.changed), their adapters' last health
-- report (evt.provider.health) and the last spot price quote (evt.provider.prices). Platform-level:
-- providers are offered to every tenant.
CREATE TABLE providers (
  name text PRIMARY KEY,
  manifest jsonb,                           -- the provider.yaml; null: heard of its health or prices only
  enabled boolean NOT NULL DEFAULT false,
  note text,
  changed_by text,
  changed_at timestamptz,
  health jsonb,                             -- {healthy, checkedAt, message, latencyMs, intervalMs}
  prices jsonb                              -- {points, simulated, quotedAt, intervalMs}
);

-- The registry's environments as evt.project.updated tells of them, with their stored overrides.
CREATE TABLE environments (
  env_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  project_id text NOT NULL,
  name text NOT NULL,
  overrides jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The manifests placement weighed, by digest (canonical JSON): POST /recommend may name one.
CREATE TABLE manifests (
  tenant_id text NOT NULL,
  digest text NOT NULL,
  manifest text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, digest)
);

-- Each decision, whole, with what it was made of: reused while the manifest, the overrides and the
-- provider set (names, manifests, enabled, health, the pin) are the same.
CREATE TABLE decisions (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  env_id text,                              -- null: asked of the API for an environment name only
  deployment_id text,                       -- the last deployment that used it; null: none yet
  manifest_digest text NOT NULL,
  overrides_digest text NOT NULL,
  providers_fingerprint text NOT NULL,
  decision jsonb NOT NULL,                  -- the evt.placement.recommended it was, or the failure
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_reuse ON decisions (tenant_id, env_id, manifest_digest, overrides_digest, providers_fingerprint);
CREATE INDEX decisions_env ON decisions (tenant_id, env_id, used_at DESC);

-- Operators' pins of an environment to a provider, and every pin and unpin as it happened.
CREATE TABLE pins (
  env_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  provider text NOT NULL,
  reason text NOT NULL,
  pinned_by text NOT NULL,
  pinned_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pin_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id text NOT NULL,
  env_id text NOT NULL,
  provider text,                            -- null: the pin was lifted
  reason text NOT NULL,
  changed_by text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE environments ENABLE ROW LEVEL SECURITY;
ALTER TABLE environments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON environments
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
ALTER TABLE manifests ENABLE ROW LEVEL SECURITY;
ALTER TABLE manifests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON manifests
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
ALTER TABLE decisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE decisions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON decisions
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
ALTER TABLE pins ENABLE ROW LEVEL SECURITY;
ALTER TABLE pins FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pins
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
ALTER TABLE pin_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE pin_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pin_history
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
