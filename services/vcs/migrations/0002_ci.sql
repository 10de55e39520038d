-- The project's CI (registry's ci settings): the workflow whose success built <ci_image>:<commit sha>.
-- Both null, or both set.
ALTER TABLE project_routes ADD COLUMN ci_workflow text;
ALTER TABLE project_routes ADD COLUMN ci_image text;
