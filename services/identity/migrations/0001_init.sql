-- Platform-level: users, organisations, credentials. Tenant-owned tables (memberships, roles, API keys,
-- invites) carry org_id and are under row-level security: a statement sees an organisation's rows only
-- when rxt.tenant_id names it (kit withTenant), or, for reads, its own memberships when rxt.user_id
-- names the user (authentication and GET /me).

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  email_key text NOT NULL UNIQUE,           -- lower-cased email: one account per address
  name text NOT NULL,
  password_hash text NOT NULL,              -- argon2id
  operator boolean NOT NULL DEFAULT false,  -- platform operator (the first user of an installation)
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orgs (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  created_by uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  org_id uuid NOT NULL REFERENCES orgs (id),
  user_id uuid NOT NULL REFERENCES users (id),
  role text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE roles (
  org_id uuid NOT NULL REFERENCES orgs (id),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  permissions text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, name)
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES orgs (id),
  name text NOT NULL,
  role text NOT NULL,
  secret_hash bytea NOT NULL,               -- SHA-256 of a 256-bit random secret
  created_by uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- Which organisation a key belongs to, readable before the tenant is known (no secret in it).
CREATE TABLE api_key_orgs (
  key_id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES orgs (id)
);

CREATE TABLE invites (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES orgs (id),
  email_key text NOT NULL,
  role text NOT NULL,
  token_hash bytea NOT NULL,
  created_by uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users (id)
);

-- Which organisation an invite belongs to, by its token's hash (read before the tenant is known).
CREATE TABLE invite_orgs (
  token_hash bytea PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES orgs (id)
);

-- Refresh tokens: one row per token, a family per login; a used token presented again revokes the family.
CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY,
  family_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id),
  secret_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Signing keys (Ed25519). The newest unretired key signs; a retired key stays in the JWKS until
-- every token it signed has expired.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['memberships', 'roles', 'api_keys', 'invites'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant ON %I
      USING (org_id::text = current_setting('rxt.tenant_id', true))
      WITH CHECK (org_id::text = current_setting('rxt.tenant_id', true))$p$, t);
  END LOOP;
END $$;

-- A user reads their own memberships, and the custom roles of their organisations, across tenants.
CREATE POLICY own_memberships ON memberships FOR SELECT
  USING (user_id::text = current_setting('rxt.user_id', true));
CREATE POLICY own_roles ON roles FOR SELECT
  USING (org_id IN (SELECT m.org_id FROM memberships m
                     WHERE m.user_id::text = current_setting('rxt.user_id', true)));
