-- The `purge-samples` job deletes, across organisations, samples older than VMS_SAMPLE_RETENTION_DAYS:
-- a statement outside any tenant sees and deletes samples only inside a transaction that says it is
-- that job, and never one of the last day's (the shortest retention).
CREATE POLICY retention_read ON vm_samples FOR SELECT
  USING (current_setting('rxt.sweep', true) = 'sample-retention' AND window_end < now() - interval '1 day');
CREATE POLICY retention_delete ON vm_samples FOR DELETE
  USING (current_setting('rxt.sweep', true) = 'sample-retention' AND window_end < now() - interval '1 day');
