-- Expired grants are purged a day after they expire (the `purge-grants` job), across organisations: a
-- statement outside any tenant sees and deletes only the grants these policies let through, and only
-- inside a transaction that says it is the purge (a DELETE with a WHERE reads the rows, so SELECT needs
-- its policy too). Their grant_secrets rows go with them (ON DELETE CASCADE).
CREATE POLICY purge_expired ON grants FOR DELETE
  USING (current_setting('rxt.purge', true) = 'expired-grants' AND expires_at < now() - interval '1 day');
CREATE POLICY purge_expired_read ON grants FOR SELECT
  USING (current_setting('rxt.purge', true) = 'expired-grants' AND expires_at < now() - interval '1 day');
