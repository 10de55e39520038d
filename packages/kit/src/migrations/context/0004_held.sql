-- Messages a consumer holds back, in arrival order per key: one that failed (retried from here, its
-- attempts counted here, not by the transport), the key's later messages behind it, and a dead-lettered
-- one whose handler holds its key until the dead letter is replayed or discarded. So no later message of
-- a key overtakes a retry, on any transport.
CREATE TABLE rxt_held (
  n bigserial PRIMARY KEY,
  consumer text NOT NULL,
  key text NOT NULL,
  message_id uuid NOT NULL,
  seq bigint,                       -- the transport's sequence number, as the handler is told it
  envelope jsonb NOT NULL,
  attempts integer NOT NULL,        -- failed handlings so far (0: held only behind another)
  not_before timestamptz NOT NULL DEFAULT now(),
  dead_letter uuid,                 -- the dead letter holding the key, until it is replayed or discarded
  UNIQUE (consumer, message_id)
);
CREATE INDEX rxt_held_key ON rxt_held (consumer, key, n);

ALTER TABLE rxt_dead_letters ADD COLUMN discarded_at timestamptz;
