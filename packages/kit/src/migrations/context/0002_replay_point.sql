-- Where the last replay of a consumer started: a message from before it that the consumer handled in
-- an earlier generation is still a duplicate (its ack may have been lost), one from after it is new.
ALTER TABLE rxt_consumers ADD COLUMN replay_from_seq bigint, ADD COLUMN replay_from_time timestamptz;
