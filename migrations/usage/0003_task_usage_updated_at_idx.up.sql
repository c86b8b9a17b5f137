-- mc:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS task_usage_updated_at_idx ON usage.task_usage (updated_at)
