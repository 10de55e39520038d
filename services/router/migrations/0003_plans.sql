-- One plan per route: the router makes a deployment's plan once and sends it in every platform
-- command of the route; the adapters render it (the bundle of objects the router rendered is gone).
DROP TABLE bundles;
ALTER TABLE routes ADD COLUMN plan jsonb;   -- the DeployPlan sent; null when no provider could take the work

-- The environments of the registry as its evt.project.updated events say them: their names and the
-- deploy.yaml overrides stored on them, which every plan of the environment applies. A tenant's data.
CREATE TABLE environments (
  env_id text PRIMARY KEY,
  tenant_id text NOT NULL,
  project_id text NOT NULL,
  name text NOT NULL,
  overrides jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE environments ENABLE ROW LEVEL SECURITY;
ALTER TABLE environments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON environments
  USING (tenant_id = current_setting('rxt.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('rxt.tenant_id', true));
