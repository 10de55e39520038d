-- The router no longer sends deployments to providers (cmd.router.provision): it answers
-- cmd.router.plan, and the orchestrator's deploy saga sends each step and keeps its history. What it
-- kept of the work it sent goes.
DROP TABLE routes;
