-- mc:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS task_usage_created_at_idx ON usage.task_usage (created_at)
