-- The Postgres log: the embedded mode's transport. One append-only log, a cursor per consumer, and
-- the deliveries each consumer still owes.

CREATE TABLE log (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,          -- the envelope id: a re-published message is dropped
  subject text NOT NULL,
  key text NOT NULL,
  time timestamptz NOT NULL,
  body text NOT NULL,
  appended_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_time ON log (time);

CREATE TABLE consumers (
  name text PRIMARY KEY,
  subjects text[] NOT NULL,
  cursor bigint NOT NULL,           -- every log row up to here has been fanned out to pending
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pending (
  consumer text NOT NULL REFERENCES consumers (name) ON DELETE CASCADE,
  seq bigint NOT NULL,
  key text NOT NULL,
  deliveries integer NOT NULL DEFAULT 0,
  not_before timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  PRIMARY KEY (consumer, seq)
);
CREATE INDEX pending_key ON pending (consumer, key, seq);
