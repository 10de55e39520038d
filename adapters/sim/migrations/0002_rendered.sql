-- What a simulation applied of each plan it was sent: the objects its family's renderer made of the
-- plan, per step (environment, workload, network), as a real adapter would have created them.
CREATE TABLE rendered (
  platform text NOT NULL,                   -- sim-container | sim-vm
  env_id text NOT NULL,
  step text NOT NULL CHECK (step IN ('environment', 'workload', 'network')),
  deployment_id text NOT NULL,              -- the plan's deployment
  objects jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, env_id, step)
);
