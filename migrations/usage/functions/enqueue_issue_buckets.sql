-- Enqueues the hour buckets of every usage row of the tasks of the given issues, under each
-- task's attribution and the project the issue has now. Called before and after an issue
-- moves to another project, so both the buckets it leaves and those it joins are recomputed.
CREATE OR REPLACE FUNCTION usage.enqueue_issue_buckets(p_issue_ids uuid[])
RETURNS integer LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO usage.task_usage_dirty AS d
               (workspace_id, runtime_id, agent_id, project_id, provider, model, bucket_hour,
                enqueued_at)
        SELECT k.*, clock_timestamp()
          FROM (SELECT DISTINCT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id,
                       u.provider, u.model, date_trunc('hour', u.created_at, 'UTC')
                  FROM usage.task_attribution a
                  JOIN usage.task_usage u ON u.task_id = a.task_id
                  LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
                 WHERE a.issue_id = ANY (p_issue_ids) AND a.deleted_at IS NULL) AS k
        ON CONFLICT ON CONSTRAINT task_usage_dirty_key
        DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at)
        RETURNING 1)
    SELECT count(*)::integer FROM ins
$$;
COMMENT ON FUNCTION usage.enqueue_issue_buckets(uuid[]) IS
    'Marks the hourly buckets holding the usage of the given issues'' tasks (under their current project) dirty.';
