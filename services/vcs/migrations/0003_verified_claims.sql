-- A project's claim to its repository is verified once a ping signed with the project's own webhook
-- secret arrives at the project's own webhook URL and names that repository (ADR 0016). Until then its
-- deliveries cause nothing. A change of repository clears it.
ALTER TABLE project_routes ADD COLUMN verified_at timestamptz;

-- Claims proved before this column: a ping the project's secret signed was published for it. The
-- deliveries are read organisation by organisation, under each one's row-level security.
DO $$
DECLARE org uuid;
BEGIN
  FOR org IN SELECT DISTINCT org_id FROM project_routes LOOP
    PERFORM set_config('rxt.tenant_id', org::text, true);
    UPDATE project_routes r SET verified_at = d.first_ping
      FROM (SELECT project_id, min(received_at) AS first_ping FROM deliveries
             WHERE event = 'ping' AND outcome = 'published' GROUP BY project_id) d
     WHERE r.project_id = d.project_id AND r.org_id = org AND r.repository IS NOT NULL;
  END LOOP;
  PERFORM set_config('rxt.tenant_id', '', true);
END $$;

-- The repository index served the shared URL's search by repository, which is gone: a delivery names
-- its project in its URL.
DROP INDEX project_routes_repository;
