-- Where a project's images come from: {workflow, image}, or null when it names no CI workflow.
ALTER TABLE projects ADD COLUMN ci jsonb;
