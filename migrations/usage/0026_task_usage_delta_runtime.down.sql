-- The delta log loses its runtime; the next up applies every function file again (the delta
-- log's trigger and the reads then work as before 0026).
DROP INDEX IF EXISTS usage.task_usage_delta_runtime_idx;
REVOKE SELECT ON usage.task_usage_delta, usage.rollup_quarantine FROM multica_gateway;
ALTER TABLE usage.task_usage_delta DROP COLUMN runtime_id;
