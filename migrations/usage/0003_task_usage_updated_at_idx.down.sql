-- mc:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS usage.task_usage_updated_at_idx
