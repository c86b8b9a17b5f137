-- task_usage takes its updated_at indexes back; the next up applies every function file again
-- (the readers then keep reading the change log, as after 0028).
DROP INDEX IF EXISTS usage.task_usage_delta_no_runtime_idx;
CREATE INDEX IF NOT EXISTS task_usage_updated_at_idx ON usage.task_usage (updated_at);
CREATE INDEX IF NOT EXISTS task_usage_runtime_updated_idx
    ON usage.task_usage (runtime_id, updated_at);
