-- mc:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS task_attribution_usage_missing_idx ON usage.task_attribution (workspace_id, runtime_id, task_id) WHERE usage_missing
