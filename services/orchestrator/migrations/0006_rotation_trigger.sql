-- A secret's rotation redeploying the environments that read it (a setting of the secret): trigger 'rotation'.
ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_trigger_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_trigger_check
  CHECK (trigger IN ('push', 'manual', 'rollback', 'promote', 'retry', 'rotation', 'destroy'));
