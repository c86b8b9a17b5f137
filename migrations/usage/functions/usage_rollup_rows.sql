-- Usage of a runtime or a workspace (p_runtime or p_workspace; p_project, when given, keeps one
-- project's) from p_since on, as the rollup holds it plus what it has not reached yet: rows
-- whose sums give exactly what usage.usage_raw_rows' rows give, grouped by the date in p_tz of
-- each bucket's UTC hour. Cost: O(daily rows + recent rows), not O(hourly buckets).
-- 1. Days: each local date of the window is cut into runs of whole UTC hours, one per UTC day
--    it touches (two for an offset that is not whole days, one for UTC; other counts on the
--    days an offset changes), by evaluating the date of every hour: whatever the zone does,
--    each hour counts on the date its start has in p_tz, as the raw rows do. A run [lo, hi)
--    of a UTC day is cum[hi + 1] - cum[lo + 1] of its task_usage_daily row. With p_hourly
--    (a read by hour of the day) the hourly buckets are read instead.
-- 2. Buckets past the hours evaluated (created_at in the future) and days whose sums exceed a
--    bigint (cum NULL) come from task_usage_hourly.
-- 3. Fresh: the hours the rollup has not reached (those of rows updated at or after the
--    watermark, and those its queue holds for the runtime or workspace) are taken out as the
--    rollup holds them and put back as task_usage holds them now, so a read shows usage as
--    soon as the ingester commits it. Found through task_usage_updated_at_idx.
-- A group may then add up to nothing (a bucket whose rows went): readers drop groups without a
-- task. p_watermark is the rollup's (usage.rollup_state), passed in so plans see its value.
CREATE OR REPLACE FUNCTION usage.usage_rollup_rows(p_runtime uuid, p_workspace uuid,
                                                   p_project uuid, p_since timestamptz,
                                                   p_tz text, p_hourly boolean,
                                                   p_watermark timestamptz)
RETURNS TABLE (date date, bucket_hour timestamptz, workspace_id uuid, runtime_id uuid,
               agent_id uuid, project_id uuid, provider text, model text, input_tokens numeric,
               output_tokens numeric, cache_read_tokens numeric, cache_write_tokens numeric,
               task_count numeric, cost_usd_ticks numeric, uncosted_input_tokens numeric,
               uncosted_output_tokens numeric, uncosted_cache_read_tokens numeric,
               uncosted_cache_write_tokens numeric, estimated_cost_usd_ticks numeric,
               unpriced_tokens numeric)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        -- The first whole hour of the window, and the end of the hours evaluated (the end of
        -- tomorrow in UTC, past today's end in every zone).
        SELECT date_trunc('hour', p_since + interval '59 minutes 59.999999 seconds', 'UTC')
                   AS first_hour,
               date_trunc('day', now(), 'UTC') + interval '2 days' AS horizon
    ), hrs AS (
        SELECT h, (h AT TIME ZONE p_tz)::date AS ld, (h AT TIME ZONE 'UTC')::date AS ud,
               extract(hour FROM h AT TIME ZONE 'UTC')::int AS uh
          FROM bounds b
         CROSS JOIN generate_series(b.first_hour, b.horizon - interval '1 hour',
                                    interval '1 hour') AS h
         WHERE NOT p_hourly
    ), runs AS (
        SELECT ld, ud, min(uh) AS lo, max(uh) + 1 AS hi
          FROM (SELECT ld, ud, uh, uh - row_number() OVER (PARTITION BY ld, ud ORDER BY uh) AS g
                  FROM hrs) x
         GROUP BY ld, ud, g
    ), days AS MATERIALIZED (
        SELECT d.*
          FROM usage.task_usage_daily d
         WHERE NOT p_hourly
           AND (p_runtime IS NULL OR d.runtime_id = p_runtime)
           AND (p_workspace IS NULL OR d.workspace_id = p_workspace)
           AND (p_project IS NULL OR d.project_id = p_project)
           AND d.day >= (p_since AT TIME ZONE 'UTC')::date
           AND d.day < (date_trunc('day', now(), 'UTC') + interval '2 days')::date
    ), dirty AS (
        SELECT array_agg(DISTINCT x.h) AS hours
          FROM (SELECT date_trunc('hour', u.created_at, 'UTC') AS h
                  FROM usage.task_usage u
                 CROSS JOIN LATERAL (
                       SELECT a.runtime_id, a.workspace_id FROM usage.task_attribution a
                        WHERE a.task_id = u.task_id
                       OFFSET 0) a
                 WHERE u.updated_at >= coalesce(p_watermark, '-infinity')
                   AND (p_runtime IS NULL OR a.runtime_id = p_runtime)
                   AND (p_workspace IS NULL OR a.workspace_id = p_workspace)
                UNION ALL
                SELECT q.bucket_hour
                  FROM usage.task_usage_dirty q
                 WHERE (p_runtime IS NULL OR q.runtime_id = p_runtime)
                   AND (p_workspace IS NULL OR q.workspace_id = p_workspace)) x
         WHERE x.h >= p_since
    ), hourly AS (
        SELECT h.*
          FROM usage.task_usage_hourly h, bounds b
         WHERE (p_runtime IS NULL OR h.runtime_id = p_runtime)
           AND (p_workspace IS NULL OR h.workspace_id = p_workspace)
           AND (p_project IS NULL OR h.project_id = p_project)
           AND h.bucket_hour >= CASE WHEN p_hourly THEN p_since ELSE b.horizon END
        UNION ALL
        SELECT h.*
          FROM days d
          JOIN usage.task_usage_hourly h
            ON (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model)
             = (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model)
           AND h.project_id IS NOT DISTINCT FROM d.project_id
           AND h.bucket_hour >= d.day::timestamp AT TIME ZONE 'UTC'
           AND h.bucket_hour < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
         WHERE d.cum IS NULL AND h.bucket_hour >= p_since
    ), taken_out AS (
        SELECT h.*
          FROM usage.task_usage_hourly h, dirty
         WHERE (p_runtime IS NULL OR h.runtime_id = p_runtime)
           AND (p_workspace IS NULL OR h.workspace_id = p_workspace)
           AND (p_project IS NULL OR h.project_id = p_project)
           AND h.bucket_hour = ANY (dirty.hours)
    )
    SELECT r.ld, NULL::timestamptz, d.workspace_id, d.runtime_id, d.agent_id, d.project_id,
           d.provider, d.model, d.cum[r.hi + 1][1] - d.cum[r.lo + 1][1],
           d.cum[r.hi + 1][2] - d.cum[r.lo + 1][2], d.cum[r.hi + 1][3] - d.cum[r.lo + 1][3],
           d.cum[r.hi + 1][4] - d.cum[r.lo + 1][4], d.cum[r.hi + 1][5] - d.cum[r.lo + 1][5],
           d.cum[r.hi + 1][6] - d.cum[r.lo + 1][6], d.cum[r.hi + 1][7] - d.cum[r.lo + 1][7],
           d.cum[r.hi + 1][8] - d.cum[r.lo + 1][8], d.cum[r.hi + 1][9] - d.cum[r.lo + 1][9],
           d.cum[r.hi + 1][10] - d.cum[r.lo + 1][10], d.cum[r.hi + 1][11] - d.cum[r.lo + 1][11],
           d.cum[r.hi + 1][12] - d.cum[r.lo + 1][12]
      FROM days d JOIN runs r ON r.ud = d.day
     WHERE d.cum IS NOT NULL
    UNION ALL
    SELECT (x.bucket_hour AT TIME ZONE p_tz)::date, x.bucket_hour, x.workspace_id, x.runtime_id,
           x.agent_id, x.project_id, x.provider, x.model, x.sign * x.input_tokens,
           x.sign * x.output_tokens, x.sign * x.cache_read_tokens, x.sign * x.cache_write_tokens,
           x.sign * x.task_count, x.sign * x.cost_usd_ticks, x.sign * x.uncosted_input_tokens,
           x.sign * x.uncosted_output_tokens, x.sign * x.uncosted_cache_read_tokens,
           x.sign * x.uncosted_cache_write_tokens, x.sign * x.estimated_cost_usd_ticks,
           x.sign * x.unpriced_tokens
      FROM (SELECT 1 AS sign, h.* FROM hourly h
            UNION ALL
            SELECT -1, t.* FROM taken_out t) x
    UNION ALL
    SELECT f.*
      FROM dirty
     CROSS JOIN LATERAL usage.usage_raw_rows(p_runtime, p_workspace, p_project, NULL,
                                             dirty.hours, p_tz) f
     WHERE dirty.hours IS NOT NULL
$$;
COMMENT ON FUNCTION usage.usage_rollup_rows(uuid, uuid, uuid, timestamptz, text, boolean,
                                            timestamptz) IS
    'Usage of a runtime or workspace (and project) from p_since on, by date in p_tz, from the daily level (or the hourly buckets), with the hours the rollup has not reached taken from task_usage; sums equal usage.usage_raw_rows''.';
GRANT EXECUTE ON FUNCTION usage.usage_rollup_rows(uuid, uuid, uuid, timestamptz, text, boolean,
                                                  timestamptz) TO multica_gateway;
