-- The delta log loses its runtime; the next up applies every function file again (the delta
-- log's trigger and the reads then work as before 0026). The two reads 0026's functions added
-- go with it: they read the column, and usage_delta_rows returns usage.usage_row, which
-- 0020's down drops.
DROP FUNCTION IF EXISTS usage.usage_delta_rows(uuid, uuid, timestamptz, timestamptz[], text);
DROP FUNCTION IF EXISTS usage.usage_runtime_fresh_hours(uuid, timestamptz, timestamptz);
DROP INDEX IF EXISTS usage.task_usage_delta_runtime_idx;
REVOKE SELECT ON usage.task_usage_delta, usage.rollup_quarantine FROM multica_gateway;
ALTER TABLE usage.task_usage_delta DROP COLUMN runtime_id;
