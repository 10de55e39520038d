-- The simulated platforms' state: what a real platform would hold (environments and what runs in
-- them) and the outcome of every call by its idempotency key, so a restart keeps both.
-- Platform-level, like a provider's own API: the calls carry their tenant, and no control-plane
-- context reads these tables.

CREATE TABLE environments (
  platform text NOT NULL,                   -- sim-container | sim-vm
  env_id text NOT NULL,
  platform_id text NOT NULL,                -- the simulated namespace or VM folder
  tenant_id text NOT NULL,
  request jsonb NOT NULL,                   -- the provision request
  deploy jsonb,                             -- the deploy request that runs now; null before a deploy
  revision integer NOT NULL DEFAULT 0,
  replicas integer NOT NULL DEFAULT 0,
  autoscaling jsonb,
  network jsonb,                            -- the network outcome; null before one
  ready_at timestamptz,                     -- when the current rollout completes
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, env_id),
  UNIQUE (platform, platform_id)            -- a namespace or folder name is the platform's, once
);

CREATE TABLE calls (
  platform text NOT NULL,
  key text NOT NULL,
  operation text NOT NULL,
  request_digest text NOT NULL,             -- sha256 of the canonical request: the same key for another request is a conflict
  outcome jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, key)
);
