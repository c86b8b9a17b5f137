-- Back to recomputing every dirty hour: the triggers and the log go (the next up applies
-- every function file again). Changes still logged are queued as dirty buckets first.
DROP TRIGGER IF EXISTS task_usage_delta_insert ON usage.task_usage;
DROP TRIGGER IF EXISTS task_usage_delta_update ON usage.task_usage;
DROP TRIGGER IF EXISTS task_usage_delta_delete ON usage.task_usage;
DROP FUNCTION IF EXISTS usage.task_usage_log_delta();
DROP FUNCTION IF EXISTS usage.rollup_fold_deltas();
INSERT INTO usage.task_usage_dirty AS d
       (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id, enqueued_at)
SELECT DISTINCT a.workspace_id, a.runtime_id, a.agent_id, x.provider, x.model,
       date_trunc('hour', x.created_at, 'UTC'), ip.project_id, '-infinity'::timestamptz
  FROM usage.task_usage_delta x
  JOIN usage.task_attribution a ON a.task_id = x.task_id AND a.deleted_at IS NULL
  LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
ON CONFLICT ON CONSTRAINT task_usage_dirty_key
DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at);
DROP TABLE usage.task_usage_delta;
