-- A failed or cancelled deployment run again as it was (POST /v1/deployments/:id/retry): trigger 'retry'.
ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_trigger_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_trigger_check
  CHECK (trigger IN ('push', 'manual', 'rollback', 'promote', 'retry', 'destroy'));
