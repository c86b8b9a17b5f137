-- The UTC hours from p_since on whose buckets of a runtime or workspace (p_runtime or
-- p_workspace) the rollup has not reached: those of task_usage rows updated at or after its
-- watermark (p_watermark; NULL before its first run: every row), found through
-- task_usage_updated_at_idx (a runtime's through task_usage_runtime_updated_idx: its rows and
-- those whose runtime_id is not known yet, migration 0025) and attributed by one
-- primary-key probe each, and those its queue
-- (task_usage_dirty) holds for the runtime or workspace. A read takes these hours from
-- task_usage instead of the rollup (usage.usage_rows). A table function, so that the caller's
-- plan takes it in and sees the watermark's value.
CREATE OR REPLACE FUNCTION usage.usage_fresh_hours(p_runtime uuid, p_workspace uuid,
                                                   p_since timestamptz,
                                                   p_watermark timestamptz)
RETURNS SETOF timestamptz
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT x.h
      FROM (SELECT date_trunc('hour', u.created_at, 'UTC') AS h
              FROM usage.task_usage u
             CROSS JOIN LATERAL (
                   SELECT a.runtime_id, a.workspace_id FROM usage.task_attribution a
                    WHERE a.task_id = u.task_id
                   OFFSET 0) a
             WHERE p_runtime IS NULL
               AND u.updated_at >= coalesce(p_watermark, '-infinity')
               AND (p_workspace IS NULL OR a.workspace_id = p_workspace)
            UNION ALL
            -- A runtime's: its rows and those whose runtime is not known yet (NULL), through
            -- task_usage_runtime_updated_idx, each attributed as above (runtime_id is a key,
            -- the attribution the truth).
            SELECT date_trunc('hour', u.created_at, 'UTC')
              FROM (SELECT u.task_id, u.created_at FROM usage.task_usage u
                     WHERE u.runtime_id = p_runtime
                       AND u.updated_at >= coalesce(p_watermark, '-infinity')
                    UNION ALL
                    SELECT u.task_id, u.created_at FROM usage.task_usage u
                     WHERE u.runtime_id IS NULL
                       AND u.updated_at >= coalesce(p_watermark, '-infinity')) u
             CROSS JOIN LATERAL (
                   SELECT a.runtime_id, a.workspace_id FROM usage.task_attribution a
                    WHERE a.task_id = u.task_id
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
    'The UTC hours from p_since on holding usage of a runtime or workspace that the rollup has not reached yet (rows updated since its watermark, queued invalidations).';
GRANT EXECUTE ON FUNCTION usage.usage_fresh_hours(uuid, uuid, timestamptz, timestamptz)
    TO multica_gateway;
