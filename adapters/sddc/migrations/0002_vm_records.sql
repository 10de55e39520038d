-- What the adapter last saw of each VM of its environments in vCenter, recorded with the lifecycle
-- events it published for the change (evt.vm.*), in one transaction: a restart neither repeats nor
-- loses one. vCenter holds the VMs; this is the follower's bookmark, platform-level like `calls`.

CREATE TABLE vm_records (
  vm_id text PRIMARY KEY,                   -- the VM's managed object id (vm-42)
  tenant_id text NOT NULL,
  record jsonb NOT NULL,                    -- host, power state, spec, environment
  updated_at timestamptz NOT NULL           -- when it was last seen as `record` says: a migration's start
);
