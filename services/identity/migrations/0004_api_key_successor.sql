-- The key a rotation made in a key's place. A key has at most one: a key that has a successor (and
-- works on through its grace period) is not rotated again, so a rotation never forks into two keys.
-- Keys rotated before this column existed have none recorded.
ALTER TABLE api_keys ADD COLUMN replaced_by uuid REFERENCES api_keys (id);
CREATE UNIQUE INDEX api_keys_replaced_by ON api_keys (replaced_by);
