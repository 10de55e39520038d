-- Credentials of the platform's own services (one context calling another in the distributed mode).
-- Platform-level, not tenant-owned: a service belongs to no organisation and acts in the one it names,
-- with the permissions below. Only operators manage them.
CREATE TABLE service_credentials (
  id uuid PRIMARY KEY,
  service text NOT NULL CHECK (service ~ '^[a-z][a-z0-9-]{1,39}$'),
  permissions text[] NOT NULL,
  secret_hash bytea NOT NULL,               -- SHA-256 of a 256-bit random secret
  created_by uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX service_credentials_service ON service_credentials (service, created_at);
