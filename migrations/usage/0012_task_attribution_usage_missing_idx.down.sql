-- mc:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS usage.task_attribution_usage_missing_idx
