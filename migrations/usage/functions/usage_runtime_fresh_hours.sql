-- The UTC hours from p_since on that a runtime's read takes whole from task_usage (its rollup
-- buckets taken out, the hour's rows added) instead of correcting its buckets by its logged
-- changes (usage.usage_delta_rows): those its rollup queue holds for it (task_usage_dirty:
-- moves, deletions, prices, late attribution; a recompute replaces such buckets and deletes
-- their logged changes), those of its task_usage rows whose runtime is not known (runtime_id
-- NULL, written by hand or before their attribution; their logged changes carry no runtime)
-- updated at or after the rollup's watermark (p_watermark), each attributed by one
-- primary-key probe, and those of its quarantined buckets (not in task_usage_hourly) with a
-- logged change. A runtime with no such hour (the usual case: the ingester writes every row
-- with its runtime) costs three index probes, however busy it is.
CREATE OR REPLACE FUNCTION usage.usage_runtime_fresh_hours(p_runtime uuid, p_since timestamptz,
                                                           p_watermark timestamptz)
RETURNS SETOF timestamptz
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT x.h
      FROM (SELECT date_trunc('hour', u.created_at, 'UTC') AS h
              FROM usage.task_usage u
             CROSS JOIN LATERAL (
                   SELECT a.runtime_id FROM usage.task_attribution a
                    WHERE a.task_id = u.task_id
                   OFFSET 0) a
             WHERE u.runtime_id IS NULL
               AND u.updated_at >= coalesce(p_watermark, '-infinity')
               AND a.runtime_id = p_runtime
            UNION ALL
            SELECT q.bucket_hour
              FROM usage.task_usage_dirty q
             WHERE q.runtime_id = p_runtime
            UNION ALL
            SELECT q.bucket_hour
              FROM usage.rollup_quarantine q
             WHERE q.runtime_id = p_runtime
               AND EXISTS (SELECT 1 FROM usage.task_usage_delta d
                            WHERE d.runtime_id = p_runtime
                              AND d.created_at >= q.bucket_hour
                              AND d.created_at < q.bucket_hour + interval '1 hour')) x
     WHERE x.h >= p_since
$$;
COMMENT ON FUNCTION usage.usage_runtime_fresh_hours(uuid, timestamptz, timestamptz) IS
    'The UTC hours from p_since on a runtime''s read takes whole from task_usage: queued for the rollup, holding rows of unknown runtime updated since the watermark, or quarantined with a logged change.';
GRANT EXECUTE ON FUNCTION usage.usage_runtime_fresh_hours(uuid, timestamptz, timestamptz)
    TO multica_gateway;
