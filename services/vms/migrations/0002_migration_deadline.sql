-- The `migration-deadline` job fails, across organisations, the migration requests no answer came to
-- in VMS_MIGRATION_TIMEOUT_SECONDS: a statement outside any tenant sees and changes only requests in
-- flight, and only inside a transaction that says it is that job.
-- An UPDATE whose WHERE reads the rows checks the new row against the SELECT policies too: the
-- job reads the requests in flight and the failed rows it leaves, nothing else.
CREATE POLICY deadline_read ON vm_migrations FOR SELECT
  USING (current_setting('rxt.sweep', true) = 'migration-deadline' AND status IN ('requested', 'failed'));
CREATE POLICY deadline_fail ON vm_migrations FOR UPDATE
  USING (current_setting('rxt.sweep', true) = 'migration-deadline' AND status = 'requested')
  WITH CHECK (current_setting('rxt.sweep', true) = 'migration-deadline' AND status = 'failed');
