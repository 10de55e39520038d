-- The bus's tables in every context's own schema: written in the context's transactions, so that a
-- message is published if and only if the writes that caused it commit, and handled at most once.

-- Messages published in a committed transaction, waiting for the relay to hand them to the transport.
CREATE TABLE rxt_outbox (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  key text NOT NULL,
  body text NOT NULL,               -- the envelope as JSON, as the transport carries it
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Which replica relays this context's outbox: one at a time (a lease), so that publish order is kept.
CREATE TABLE rxt_relay (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  owner text NOT NULL,
  lease_until timestamptz NOT NULL
);

-- One row per consumer of this context: its replay generation (a replay makes every message new again).
CREATE TABLE rxt_consumers (
  consumer text PRIMARY KEY,
  generation integer NOT NULL DEFAULT 0,
  replayed_at timestamptz
);

-- Messages a consumer has handled; written in the handler's transaction.
CREATE TABLE rxt_inbox (
  consumer text NOT NULL,
  generation integer NOT NULL,
  message_id uuid NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, generation, message_id)
);
CREATE INDEX rxt_inbox_handled_at ON rxt_inbox (handled_at);

-- Messages a consumer gave up on, with the last error; an operator lists and replays them.
CREATE TABLE rxt_dead_letters (
  id uuid PRIMARY KEY,
  consumer text NOT NULL,
  message_id uuid,
  type text NOT NULL,
  envelope jsonb NOT NULL,
  error text NOT NULL,
  deliveries integer NOT NULL,
  dead_at timestamptz NOT NULL DEFAULT now(),
  replayed_at timestamptz,
  replays integer NOT NULL DEFAULT 0
);
CREATE INDEX rxt_dead_letters_open ON rxt_dead_letters (dead_at) WHERE replayed_at IS NULL;
