-- One plan per route: the router makes a deployment's plan once and sends it in every platform
-- command of the route; the adapters render it (the bundle of objects the router rendered is gone).
DROP TABLE bundles;
ALTER TABLE routes ADD COLUMN plan jsonb;   -- the DeployPlan sent; null when no provider could take the work

-- Routes under way from before plans were kept cannot go on: their adapters' answers name commands of
-- an earlier version. They end, saying so; the deployment is started again. (Every tenant's rows: the
-- owner is exempt from row-level security while it is not forced.)
ALTER TABLE routes NO FORCE ROW LEVEL SECURITY;
UPDATE routes SET state = 'failed', updated_at = now(),
  reason = 'routed by an earlier version, which kept no deploy plan; deploy again'
  WHERE state IN ('dispatched', 'networking');
ALTER TABLE routes FORCE ROW LEVEL SECURITY;

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
