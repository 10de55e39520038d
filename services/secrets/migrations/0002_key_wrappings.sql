-- Which key-encryption key wraps each organisation's data key: what a KEK rotation walks (the
-- data keys themselves are under row-level security; this names no key, only the KEK's id).
CREATE TABLE key_wrappings (
  org_id uuid PRIMARY KEY,
  kek_id text NOT NULL
);
INSERT INTO key_wrappings (org_id, kek_id) SELECT org_id, kek_id FROM data_keys;
