-- mc:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS usage.task_attribution_issue_idx
