-- The SDDC Flex adapter keeps what it runs in vCenter itself (folders, custom attributes, VM names);
-- here it keeps only the answer of every call by its idempotency key, so a retry after a restart gets
-- the same answer. Platform-level, like a provider's own API: the calls carry their tenant.

CREATE TABLE calls (
  key text PRIMARY KEY,
  operation text NOT NULL,
  request_digest text NOT NULL,             -- sha256 of the canonical request: the same key for another request is a conflict
  outcome jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX calls_at ON calls (at);
