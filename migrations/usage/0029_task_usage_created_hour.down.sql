-- task_usage takes its created_at btree back (migration 0004's); the readers' hour
-- comparisons stay correct without the hour index (they scan).
DROP INDEX IF EXISTS usage.task_usage_created_hour_idx;
CREATE INDEX IF NOT EXISTS task_usage_created_at_idx ON usage.task_usage (created_at);
