-- Delayed delivery: a message published with notBefore stays in the outbox until then (durable: a
-- restart or another replica's relay sends it when it comes due), and takes its place in its key's order
-- when it does.
ALTER TABLE rxt_outbox ADD COLUMN not_before timestamptz;
CREATE INDEX rxt_outbox_delayed ON rxt_outbox (not_before) WHERE not_before IS NOT NULL;
-- What the relay sends at once, in order, without scanning the delayed rows waiting ahead of it.
CREATE INDEX rxt_outbox_prompt ON rxt_outbox (seq) WHERE not_before IS NULL;
