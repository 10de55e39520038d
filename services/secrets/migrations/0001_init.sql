-- Secrets: values sealed with each tenant's data key (ADR 0023), their versions, and the grants by which
-- a deployment's adapter reads them. Every table is under row-level security on rxt.tenant_id.

-- One data key per tenant, wrapped by the key-encryption key (SECRETS_KEY) whose id is kept beside it.
CREATE TABLE data_keys (
  org_id uuid PRIMARY KEY,
  kek_id text NOT NULL,
  wrapped bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A secret of a project (env_id null: every environment of it) or of one environment.
CREATE TABLE secrets (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  project_id text NOT NULL,
  env_id text,
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._/-]*$' AND length(name) <= 200),
  current_version integer NOT NULL CHECK (current_version >= 1),
  redeploy_on_rotation boolean NOT NULL DEFAULT false,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  deleted_by text
);
-- One live secret of a name in a scope (the environment's, or the project's when env_id is null).
CREATE UNIQUE INDEX secrets_live_name
  ON secrets (org_id, project_id, coalesce(env_id, ''), name) WHERE deleted_at IS NULL;
CREATE INDEX secrets_project ON secrets (org_id, project_id, env_id) WHERE deleted_at IS NULL;

ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON secrets
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));

ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON data_keys
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));

-- A secret's versions, the last five kept. `sealed` is the value as the built-in store keeps it (nonce,
-- ciphertext, tag; bound to tenant, secret and version); null when another backend keeps the value.
CREATE TABLE secret_versions (
  secret_id uuid NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
  org_id uuid NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  sealed bytea,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (secret_id, version)
);
ALTER TABLE secret_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON secret_versions
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));

-- A deployment's grant (cmd.secret.issue): the versions pinned for it, readable until expires_at.
CREATE TABLE grants (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  deployment_id text NOT NULL,
  project_id text NOT NULL,
  env_id text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grants_deployment ON grants (org_id, deployment_id, expires_at DESC);
ALTER TABLE grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON grants
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));

CREATE TABLE grant_secrets (
  grant_id uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
  org_id uuid NOT NULL,
  secret_id uuid NOT NULL REFERENCES secrets (id),
  ref text NOT NULL,
  version integer NOT NULL,
  PRIMARY KEY (grant_id, ref)
);
CREATE INDEX grant_secrets_secret ON grant_secrets (secret_id);
ALTER TABLE grant_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE grant_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON grant_secrets
  USING (org_id::text = current_setting('rxt.tenant_id', true))
  WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true));
