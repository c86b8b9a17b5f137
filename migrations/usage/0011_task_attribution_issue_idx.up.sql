-- mc:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS task_attribution_issue_idx ON usage.task_attribution (issue_id) WHERE issue_id IS NOT NULL
