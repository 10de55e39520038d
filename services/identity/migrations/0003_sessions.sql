-- Sessions: one per sign-in. A session is the family of its refresh tokens (refresh_tokens.family_id)
-- and the `sid` of every access token issued in it. Its revocation (logout, or a reused refresh token)
-- is one row's state: refreshing and revoking lock this row, so that a refresh racing a logout cannot
-- leave a live token in a revoked family, and the access tokens of the session are refused with it.
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  revoked_because text CHECK (revoked_because IN ('logout', 'reuse'))
);
CREATE INDEX sessions_user ON sessions (user_id);

-- The families of before: a session each, revoked when any of its tokens was.
INSERT INTO sessions (id, user_id, created_at, revoked_at, revoked_because)
SELECT family_id, (array_agg(user_id))[1], min(created_at), max(revoked_at),
       CASE WHEN max(revoked_at) IS NULL THEN NULL ELSE 'logout' END
  FROM refresh_tokens GROUP BY family_id;

ALTER TABLE refresh_tokens
  ADD CONSTRAINT refresh_tokens_session FOREIGN KEY (family_id) REFERENCES sessions (id);
-- A token's revocation is its session's now.
ALTER TABLE refresh_tokens DROP COLUMN revoked_at;
