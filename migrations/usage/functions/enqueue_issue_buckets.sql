-- Enqueues the hour buckets of every usage row of the tasks of the given issues, under each
-- task's attribution and the project the issue has now. Called before and after an issue
-- moves to another project, so both the buckets it leaves and those it joins are recomputed.
CREATE OR REPLACE FUNCTION usage.enqueue_issue_buckets(p_issue_ids uuid[])
RETURNS integer LANGUAGE sql AS $$
    SELECT coalesce(usage.enqueue_task_buckets(array_agg(task_id), array_agg(workspace_id),
                                               array_agg(runtime_id), array_agg(agent_id)), 0)
      FROM usage.task_attribution
     WHERE issue_id = ANY (p_issue_ids) AND deleted_at IS NULL
$$;
COMMENT ON FUNCTION usage.enqueue_issue_buckets(uuid[]) IS
    'Marks the hourly buckets holding the usage of the given issues'' tasks (under their current project) dirty.';
