-- Responses to mutating requests sent with an Idempotency-Key, kept 24 hours (kit http/idempotency.ts).
CREATE TABLE rxt_idempotency (
  caller text NOT NULL,                -- who sent it: the same key from two callers is two keys
  key text NOT NULL,
  fingerprint bytea NOT NULL,          -- SHA-256 of method, route, path and body
  state text NOT NULL CHECK (state IN ('running', 'done')),
  status integer,
  content_type text,
  body text,
  started_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (caller, key)
);
CREATE INDEX rxt_idempotency_expiry ON rxt_idempotency (expires_at);
