-- The log's append and claim as functions: each one statement (one round trip, and on PGlite one
-- query of its serial queue) instead of a transaction of several.

-- Appends messages in order under the append lock (held until the statement's transaction commits):
-- sequence order is commit order. A re-published id is dropped.
CREATE FUNCTION append(ids uuid[], subjects text[], keys text[], times timestamptz[], bodies text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('rxt:bus:append'));
  INSERT INTO log (id, subject, key, time, body)
  SELECT m.id, m.subject, m.key, m.time, m.body
    FROM unnest(ids, subjects, keys, times, bodies) WITH ORDINALITY AS m(id, subject, key, time, body, n)
   ORDER BY m.n
  ON CONFLICT (id) DO NOTHING;
END
$$;

-- Claims up to `most` deliveries for a consumer, under its claim lock: first fans out what the log
-- holds past its cursor (up to `cap` owed), then leases the claimable ones (no earlier message of
-- their key leased or waiting for a retry) for `ack_wait_ms`.
CREATE FUNCTION claim(consumer_name text, most integer, ack_wait_ms double precision, cap integer)
RETURNS TABLE (seq bigint, key text, deliveries integer, subject text, body text)
LANGUAGE plpgsql
-- Planned for each call's values, as the statements were when sent alone: a cached generic plan does
-- not know how many rows the limits take.
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('rxt:bus:claim:' || consumer_name));
  WITH c AS (SELECT cursor, subjects FROM consumers WHERE name = consumer_name),
       owed AS (SELECT count(*) AS n FROM pending WHERE consumer = consumer_name),
       scanned AS (SELECT l.seq, l.subject, l.key FROM log l, c
                    WHERE l.seq > c.cursor ORDER BY l.seq
                    LIMIT greatest(0, cap - (SELECT n FROM owed))),
       ins AS (INSERT INTO pending (consumer, seq, key)
               SELECT consumer_name, s.seq, s.key FROM scanned s, c WHERE s.subject = ANY(c.subjects)
               ON CONFLICT DO NOTHING)
  UPDATE consumers SET cursor = (SELECT max(seq) FROM scanned)
   WHERE name = consumer_name AND EXISTS (SELECT 1 FROM scanned);
  RETURN QUERY
  WITH claimable AS (
    SELECT p.seq FROM pending p
     WHERE p.consumer = consumer_name AND p.not_before <= now()
       AND (p.lease_until IS NULL OR p.lease_until < now())
       AND NOT EXISTS (SELECT 1 FROM pending e
                        WHERE e.consumer = consumer_name AND e.key = p.key AND e.seq < p.seq
                          AND (e.lease_until >= now() OR e.not_before > now()))
     ORDER BY p.seq LIMIT most)
  UPDATE pending p
     SET deliveries = p.deliveries + 1,
         lease_until = now() + make_interval(secs => ack_wait_ms / 1000)
    FROM claimable c, log l
   WHERE p.consumer = consumer_name AND p.seq = c.seq AND l.seq = p.seq
  RETURNING p.seq, p.key, p.deliveries, l.subject, l.body;
END
$$;
