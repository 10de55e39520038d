-- Deployments the router placed: the work (cmd.router.provision), where it was sent, the providers
-- tried before and why they failed, and how it ended. A tenant's data: row-level security.
CREATE TABLE routes (
  deployment_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  env_id text NOT NULL,
  work jsonb NOT NULL,
  provider text,                            -- where the work was sent last; null when none could take it
  attempt integer NOT NULL DEFAULT 0,
  tried jsonb NOT NULL DEFAULT '[]',        -- [{provider, reason}] of providers that failed it
  state text NOT NULL CHECK (state IN ('dispatched', 'networking', 'ready', 'failed')),
  reason text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE routes ENABLE ROW LEVEL SECURITY;
ALTER TABLE routes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON routes
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));

-- The translated objects a Kubernetes provider applies, by the digest its command names: what an
-- adapter fetches (GET /v1/bundles/:bundleDigest). A tenant's data.
CREATE TABLE bundles (
  tenant_id text NOT NULL,
  digest text NOT NULL,
  objects jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, digest)
);

ALTER TABLE bundles ENABLE ROW LEVEL SECURITY;
ALTER TABLE bundles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON bundles
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
