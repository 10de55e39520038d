-- What vcs knows of each project (from evt.project.created and evt.project.updated), and every webhook
-- delivery it accepted.

-- Read before the tenant is known (a delivery names only its repository), so platform-level: ids,
-- repository names, branch names and a generation number; never a secret.
CREATE TABLE project_routes (
  project_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  repository text,                          -- owner/name, lower-case; null until one is linked
  deploy_branches text[] NOT NULL,
  webhook_generation integer NOT NULL,
  deploy_tags boolean NOT NULL DEFAULT false,
  report_branch_deletions boolean NOT NULL DEFAULT false,
  live boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX project_routes_repository ON project_routes (repository) WHERE live;

CREATE TABLE deliveries (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  project_id uuid NOT NULL,
  delivery_id text NOT NULL,                -- X-GitHub-Delivery: the same on a redelivery
  body_digest text NOT NULL,                -- SHA-256 of the signed bytes: a replay under a new delivery id is one too
  event text NOT NULL,
  action text,
  outcome text NOT NULL CHECK (outcome IN ('published', 'ignored', 'failed')),
  detail text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project_id, delivery_id),
  UNIQUE (project_id, body_digest)
);
CREATE INDEX deliveries_project ON deliveries (project_id, received_at DESC);

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON deliveries
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));
