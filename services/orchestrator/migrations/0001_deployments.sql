-- Deployments: the read model of the deploy sagas (kit's rxt_sagas holds their state and history),
-- kept in each saga transition's transaction.
CREATE TABLE deployments (
  id uuid PRIMARY KEY,                -- the saga's id, derived from what is deployed
  org_id uuid NOT NULL,
  project_id text NOT NULL,
  env_id text NOT NULL,
  environment text NOT NULL,
  commit_sha text,
  artifact_ref text NOT NULL,
  manifest_digest text NOT NULL,
  status text NOT NULL
    CHECK (status IN ('queued', 'superseded', 'running', 'compensating', 'ready', 'failed', 'cancelled')),
  queued jsonb,                       -- what a queued deployment starts with once its environment is free
  step text,                          -- the step being done or undone
  platform text,
  provider text,
  urls jsonb NOT NULL DEFAULT '[]',
  failure jsonb,
  compensation_failures jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployments_env ON deployments (env_id, created_at DESC);

ALTER TABLE deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON deployments
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));

-- The environments the registry told of (evt.project.updated), so that an environment's deployments are
-- listed to its tenant only, and an unknown one is told apart from one without deployments.
CREATE TABLE environments (
  env_id text PRIMARY KEY,
  org_id uuid NOT NULL,
  project_id text NOT NULL,
  name text NOT NULL
);
ALTER TABLE environments ENABLE ROW LEVEL SECURITY;
ALTER TABLE environments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON environments
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));
