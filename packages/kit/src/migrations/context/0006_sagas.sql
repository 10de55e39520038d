-- Sagas (kit/saga): an instance per saga, the projection of its append-only history; the commands it
-- sent, by message id, so that an answer (whose causation is the command) finds its saga and step; and
-- its durable timers (step timeouts, retries, the deadline), fired by any replica.
CREATE TABLE rxt_sagas (
  id text PRIMARY KEY,
  type text NOT NULL,
  type_version integer NOT NULL,
  tenant_id text,
  status text NOT NULL,
  state jsonb NOT NULL,             -- the projection of the history (machine.ts SagaState)
  version integer NOT NULL,         -- events folded: optimistic concurrency
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rxt_sagas_open ON rxt_sagas (type, status) WHERE status IN ('running', 'compensating');

CREATE TABLE rxt_saga_history (
  saga_id text NOT NULL REFERENCES rxt_sagas (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  kind text NOT NULL,
  event jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (saga_id, seq)
);

CREATE TABLE rxt_saga_commands (
  message_id uuid PRIMARY KEY,
  saga_id text NOT NULL REFERENCES rxt_sagas (id) ON DELETE CASCADE,
  step integer NOT NULL,
  attempt integer NOT NULL,
  phase text NOT NULL
);
CREATE INDEX rxt_saga_commands_saga ON rxt_saga_commands (saga_id);

CREATE TABLE rxt_saga_timers (
  id bigserial PRIMARY KEY,
  saga_id text NOT NULL REFERENCES rxt_sagas (id) ON DELETE CASCADE,
  kind text NOT NULL,               -- timeout | retry | deadline
  step integer NOT NULL,
  attempt integer NOT NULL,
  phase text NOT NULL,
  due_at timestamptz NOT NULL
);
CREATE INDEX rxt_saga_timers_due ON rxt_saga_timers (due_at);
CREATE INDEX rxt_saga_timers_saga ON rxt_saga_timers (saga_id);
