-- Deployments made by a person, a rollback, a promotion; the destroy of an environment; and what each
-- environment runs now and would deploy next.
ALTER TABLE deployments ADD COLUMN kind text NOT NULL DEFAULT 'deploy' CHECK (kind IN ('deploy', 'destroy'));
ALTER TABLE deployments ADD COLUMN trigger text NOT NULL DEFAULT 'push'
  CHECK (trigger IN ('push', 'manual', 'rollback', 'promote', 'destroy'));
ALTER TABLE deployments ADD COLUMN source_deployment_id uuid;  -- what a rollback, promotion or destroy comes from
ALTER TABLE deployments ADD COLUMN requested_by text;           -- who asked (null: a push)
ALTER TABLE deployments ADD COLUMN succeeded_at timestamptz;     -- when it became ready (null: never)
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
  'queued', 'superseded', 'running', 'compensating', 'ready', 'failed', 'cancelled', 'replaced', 'destroyed'));

ALTER TABLE environments ADD COLUMN manifest text;             -- its deploy.yaml now (evt.manifest.recorded)
ALTER TABLE environments ADD COLUMN manifest_digest text;
ALTER TABLE environments ADD COLUMN overrides text;            -- its overrides now (evt.project.updated)
ALTER TABLE environments ADD COLUMN current_deployment_id uuid; -- what runs there (null: nothing)
