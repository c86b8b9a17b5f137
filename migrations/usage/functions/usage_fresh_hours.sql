-- The UTC hours from p_since on whose buckets of a runtime or workspace (p_runtime or
-- p_workspace) the rollup has not reached: those of the changes of task_usage logged and not
-- folded yet (usage.task_usage_delta; a runtime's through task_usage_delta_runtime_idx and,
-- for changes logged before the row's runtime was known, task_usage_delta_no_runtime_idx),
-- each attributed by one primary-key probe, and those its queue (task_usage_dirty) holds for
-- the runtime or workspace. A read takes these hours from task_usage instead of the rollup
-- (usage.usage_rows).
-- Why the log answers the question the updated_at indexes answered before migration 0028
-- (rows updated at or after the watermark): in the snapshot of the read, a change of a row is
-- either folded (in task_usage_hourly: the fold deletes the logged row and writes its bucket
-- in one transaction) or logged (here); a recompute of a queued bucket deletes the logged
-- changes of the buckets it replaces in the same transaction. Rows written as history (stamped
-- before the watermark and before their transaction, functions/task_usage_log_delta.sql) are
-- in neither, as they were not in the old question. So the hours of the logged changes are the
-- hours whose rollup buckets lack a change; the old question also took hours already folded
-- since the watermark (read from task_usage, the same sums). p_watermark is no longer read; it
-- stays for the callers.
-- A table function, so that the caller's plan takes it in.
CREATE OR REPLACE FUNCTION usage.usage_fresh_hours(p_runtime uuid, p_workspace uuid,
                                                   p_since timestamptz,
                                                   p_watermark timestamptz)
RETURNS SETOF timestamptz
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT x.h
      FROM (SELECT date_trunc('hour', d.created_at, 'UTC') AS h
              FROM usage.task_usage_delta d
             CROSS JOIN LATERAL (
                   SELECT a.runtime_id, a.workspace_id FROM usage.task_attribution a
                    WHERE a.task_id = d.task_id
                   OFFSET 0) a
             WHERE p_runtime IS NULL
               AND d.created_at >= p_since
               AND (p_workspace IS NULL OR a.workspace_id = p_workspace)
            UNION ALL
            -- A runtime's: its logged changes and those whose runtime was not known (NULL),
            -- each attributed as above (runtime_id is a key, the attribution the truth).
            SELECT date_trunc('hour', d.created_at, 'UTC')
              FROM (SELECT d.task_id, d.created_at FROM usage.task_usage_delta d
                     WHERE d.runtime_id = p_runtime AND d.created_at >= p_since
                    UNION ALL
                    SELECT d.task_id, d.created_at FROM usage.task_usage_delta d
                     WHERE d.runtime_id IS NULL AND d.created_at >= p_since) d
             CROSS JOIN LATERAL (
                   SELECT a.runtime_id, a.workspace_id FROM usage.task_attribution a
                    WHERE a.task_id = d.task_id
                   OFFSET 0) a
             WHERE p_runtime IS NOT NULL AND a.runtime_id = p_runtime
               AND (p_workspace IS NULL OR a.workspace_id = p_workspace)
            UNION ALL
            SELECT q.bucket_hour
              FROM usage.task_usage_dirty q
             WHERE (p_runtime IS NULL OR q.runtime_id = p_runtime)
               AND (p_workspace IS NULL OR q.workspace_id = p_workspace)) x
     WHERE x.h >= p_since
$$;
COMMENT ON FUNCTION usage.usage_fresh_hours(uuid, uuid, timestamptz, timestamptz) IS
    'The UTC hours from p_since on holding usage of a runtime or workspace that the rollup has not reached yet (changes logged and not folded, queued invalidations). p_watermark is not read.';
GRANT EXECUTE ON FUNCTION usage.usage_fresh_hours(uuid, uuid, timestamptz, timestamptz)
    TO multica_gateway;
