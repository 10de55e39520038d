-- One row per process start: proves migrations, the context role and persistence end to end.
CREATE TABLE boots (
  instance_id uuid PRIMARY KEY,
  started_at timestamptz NOT NULL,
  version text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('embedded', 'distributed')),
  contexts text[] NOT NULL
);
CREATE INDEX boots_started_at ON boots (started_at DESC);
