-- mc:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS usage.task_usage_created_at_idx
