-- Projects, their environments, and manifests stored by the digest of their canonical form.
-- Every table is tenant-owned (org_id) under row-level security.

CREATE TABLE projects (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  slug text NOT NULL,
  name text NOT NULL,
  repository text,                          -- owner/name
  repository_url text,
  repository_verified_at timestamptz,       -- when a webhook ping last proved the repository reaches us
  default_branch text NOT NULL,
  deploy_branches text[] NOT NULL,
  webhook_generation integer NOT NULL DEFAULT 1, -- the webhook secret is derived from WEBHOOK_KEY and this
  deploy_tags boolean NOT NULL DEFAULT false,     -- pushing a tag deploys
  report_branch_deletions boolean NOT NULL DEFAULT false,
  created_by text NOT NULL,                 -- the actor: user:<id>, api-key:<id>, service:<name>
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz                    -- soft delete: restorable for 30 days, then purged
);
CREATE UNIQUE INDEX projects_slug ON projects (org_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX projects_deleted ON projects (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE environments (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('preview', 'development', 'staging', 'production')),
  promotion_order integer NOT NULL,
  overrides jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX environments_name ON environments (project_id, name) WHERE deleted_at IS NULL;

-- Content-addressed: one row per tenant and digest; the canonical form is what the digest is of.
CREATE TABLE manifests (
  org_id uuid NOT NULL,
  digest text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  canonical text NOT NULL,
  api_version text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, digest)
);

-- Which manifest a project (and an environment) had when: its history.
CREATE TABLE manifest_history (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  environment_id uuid REFERENCES environments (id) ON DELETE CASCADE,
  digest text NOT NULL,
  commit_sha text,
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, digest) REFERENCES manifests (org_id, digest)
);
CREATE INDEX manifest_history_project ON manifest_history (project_id, recorded_at DESC);

-- What was deleted, in which organisation, and when: ids only, no tenant data, so the purge finds its
-- work without reading across tenants, then purges each organisation under its row-level security.
CREATE TABLE tombstones (
  id uuid PRIMARY KEY,                      -- a project or an environment
  kind text NOT NULL CHECK (kind IN ('project', 'environment')),
  org_id uuid NOT NULL,
  deleted_at timestamptz NOT NULL
);
CREATE INDEX tombstones_deleted ON tombstones (deleted_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['projects', 'environments', 'manifests', 'manifest_history'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant ON %I
      USING (org_id::text = current_setting('rxt.tenant_id', true))
      WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true))$p$, t);
  END LOOP;
END $$;
