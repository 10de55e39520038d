-- The providers the router chooses among: each one's provider.yaml (loaded from its file at every
-- start) and what operators decided (enabled, and why). Platform-level: providers are offered to
-- every tenant; only operators change them.
CREATE TABLE providers (
  name text PRIMARY KEY,
  manifest jsonb NOT NULL,                  -- the provider.yaml, with its defaults
  source text NOT NULL,                     -- the file it was loaded from
  enabled boolean NOT NULL DEFAULT true,
  note text,                                -- why an operator enabled or disabled it
  changed_by text,                          -- who last changed enabled: user:<id>
  health jsonb,                             -- the last probe: {healthy, checkedAt, message}; null: never probed
  loaded_at timestamptz NOT NULL DEFAULT now(),
  changed_at timestamptz NOT NULL DEFAULT now()
);
