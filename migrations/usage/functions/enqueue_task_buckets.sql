-- Enqueues the hour buckets of every usage row of the given tasks under the given
-- attribution (one row per task in the arrays), with the project their issue has now. A
-- re-enqueued bucket keeps the newest enqueued_at so the rollup's drain can never swallow a
-- late invalidation.
-- PL/pgSQL, not SQL: a SQL function's statement that cannot be inlined (this INSERT) is
-- parsed and planned again at every call, a PL/pgSQL one is planned once per session.
CREATE OR REPLACE FUNCTION usage.enqueue_task_buckets(p_task_ids uuid[], p_workspace uuid[], p_runtime uuid[],
                                           p_agent uuid[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH ins AS (
        INSERT INTO usage.task_usage_dirty AS d
               (workspace_id, runtime_id, agent_id, project_id, provider, model, bucket_hour,
                enqueued_at)
        SELECT k.*, clock_timestamp()
          FROM (SELECT DISTINCT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id,
                       u.provider, u.model, date_trunc('hour', u.created_at, 'UTC')
                  FROM unnest(p_task_ids, p_workspace, p_runtime, p_agent)
                         AS a(task_id, workspace_id, runtime_id, agent_id)
                  JOIN usage.task_usage u ON u.task_id = a.task_id
                  LEFT JOIN usage.task_attribution t ON t.task_id = a.task_id
                  LEFT JOIN usage.issue_projects ip ON ip.issue_id = t.issue_id
                 WHERE a.workspace_id IS NOT NULL) AS k
        ON CONFLICT ON CONSTRAINT task_usage_dirty_key
        DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at)
        RETURNING 1)
    SELECT count(*)::integer INTO n FROM ins;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.enqueue_task_buckets(uuid[], uuid[], uuid[], uuid[]) IS
    'Marks the hourly buckets holding the given tasks'' usage (under the given attribution and their issue''s current project) dirty.';
