-- The UTC hours from p_since on that a runtime's read takes whole from task_usage (its rollup
-- buckets taken out, the hour's rows added) instead of correcting its buckets by its logged
-- changes (usage.usage_delta_rows): those its rollup queue holds for it (task_usage_dirty:
-- moves, deletions, prices, late attribution; a recompute replaces such buckets and deletes
-- their logged changes), those of its changes logged and not folded whose row's runtime was
-- not known when logged (usage.task_usage_delta.runtime_id NULL: a row written by hand or
-- before its attribution; usage_delta_rows does not find them by the runtime), each
-- attributed by one primary-key probe, and those of its quarantined buckets (not in
-- task_usage_hourly) with a logged change. Before migration 0028 the second part was the rows
-- of unknown runtime updated at or after the watermark (found by task_usage's updated_at
-- indexes, now gone): the log holds exactly those of their changes the rollup has not folded,
-- and the folded ones are in the buckets (usage.usage_fresh_hours says why). p_watermark is no
-- longer read; it stays for the callers. A runtime with no such hour (the usual case: the
-- ingester writes every row with its runtime) costs three index probes, however busy it is.
CREATE OR REPLACE FUNCTION usage.usage_runtime_fresh_hours(p_runtime uuid, p_since timestamptz,
                                                           p_watermark timestamptz)
RETURNS SETOF timestamptz
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT x.h
      FROM (SELECT date_trunc('hour', d.created_at, 'UTC') AS h
              FROM usage.task_usage_delta d
             CROSS JOIN LATERAL (
                   SELECT a.runtime_id FROM usage.task_attribution a
                    WHERE a.task_id = d.task_id
                   OFFSET 0) a
             WHERE d.runtime_id IS NULL
               AND d.created_at >= p_since
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
    'The UTC hours from p_since on a runtime''s read takes whole from task_usage: queued for the rollup, holding unfolded logged changes of unknown runtime, or quarantined with a logged change. p_watermark is not read.';
GRANT EXECUTE ON FUNCTION usage.usage_runtime_fresh_hours(uuid, timestamptz, timestamptz)
    TO multica_gateway;
