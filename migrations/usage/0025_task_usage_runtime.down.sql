-- task_usage loses its runtime; the next up applies every function file again (the ingester's
-- batch and the reads then find rows as before 0025).
DROP TRIGGER IF EXISTS task_attribution_usage_runtime_insert ON usage.task_attribution;
DROP TRIGGER IF EXISTS task_attribution_usage_runtime_update ON usage.task_attribution;
DROP FUNCTION IF EXISTS usage.task_attribution_usage_runtime();
DROP INDEX IF EXISTS usage.task_usage_runtime_updated_idx;
DROP INDEX IF EXISTS usage.task_usage_runtime_created_idx;
ALTER TABLE usage.task_usage DROP COLUMN runtime_id;
