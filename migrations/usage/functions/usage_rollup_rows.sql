-- Usage of a runtime or a workspace (p_runtime or p_workspace; p_project, when given, keeps one
-- project's) from p_since on as the rollup holds it, without the hours in p_hours (those the
-- rollup has not reached: usage.usage_rows adds them from task_usage): rows whose sums by date
-- in p_tz equal those of the hourly buckets, read at the coarsest level that answers exactly.
-- 1. Days: each local date of the window is a span of whole UTC hours, [start of the date,
--    start of the next): the first hour whose start has that date in p_tz, found among the
--    five hours around the instant Postgres gives local midnight (a midnight a clock skips, as
--    in Cuba, names an hour of the day before). Within each UTC day it touches the span is a
--    run [lo, hi), cum[hi + 1] - cum[lo + 1] of that day's task_usage_daily row: two rows a
--    day for an offset that is not a whole day (half-hour and 45-minute ones among them), one
--    for UTC, and whatever the day needs when the offset changes. This agrees with the date
--    of every hour's start for every zone Postgres knows, over the last 400 days (checked
--    exhaustively when this was written; the usage API suite's views case checks the reads).
-- Days are enumerated from small constant sets (the planner's guess for a generate_series
-- with computed bounds is 1,000 rows, and a hash join sized on it spilled the daily rows,
-- 2.4 kB each, to temporary files: 3x the read's time). A window holds at most 366 days, a
-- local date at most 3 UTC days.
-- 2. Hours past the end of tomorrow (UTC; created_at in the future), all hours with p_hourly
--    (reads by hour of the day), and the days whose sums exceed a bigint (cum NULL) come
--    from task_usage_hourly, as do the p_hours buckets, taken out with a negative sign.
-- Written for one plan that serves every call (usage.usage_rows runs it with a generic plan,
-- planned once per connection instead of 1.5 ms of planning per read): the scope is two
-- branches of one index each (the runtime's, or the workspace's when no runtime is given)
-- rather than "p_runtime IS NULL OR ...", which no index answers without the values; each
-- run reads its day's rows by index (LATERAL, OFFSET 0: joined, the workspace's rows of the
-- whole window were materialized and filtered once per run); and bounds the index can use
-- are written out rather than joined from a CTE.
CREATE OR REPLACE FUNCTION usage.usage_rollup_rows(p_runtime uuid, p_workspace uuid,
                                                   p_project uuid, p_since timestamptz,
                                                   p_tz text, p_hourly boolean,
                                                   p_hours timestamptz[])
RETURNS SETOF usage.usage_row
LANGUAGE sql STABLE AS $$
    WITH daily AS NOT MATERIALIZED (
        -- The scope's rows (NOT MATERIALIZED: each use keeps its own index conditions).
        SELECT d.* FROM usage.task_usage_daily d WHERE d.runtime_id = p_runtime
        UNION ALL
        SELECT d.* FROM usage.task_usage_daily d
         WHERE d.workspace_id = p_workspace AND p_runtime IS NULL
    ), buckets AS NOT MATERIALIZED (
        SELECT h.* FROM usage.task_usage_hourly h WHERE h.runtime_id = p_runtime
        UNION ALL
        SELECT h.* FROM usage.task_usage_hourly h
         WHERE h.workspace_id = p_workspace AND p_runtime IS NULL
    ), bounds AS MATERIALIZED (
        -- Materialized, and each day's local midnight computed once in its own row (OFFSET
        -- 0): inlined, the day filter's two zone conversions ran for all 401 candidate days
        -- and the midnight twice for each of its five hours, most of the runs' cost.
        SELECT x.first_hour, x.horizon, (p_since AT TIME ZONE p_tz)::date AS first_ld,
               (x.horizon AT TIME ZONE p_tz)::date + 1 - (p_since AT TIME ZONE p_tz)::date
                   AS last_i
          FROM (SELECT date_trunc('hour', p_since + interval '59 minutes 59.999999 seconds',
                                  'UTC') AS first_hour,
                       date_trunc('day', now(), 'UTC') + interval '2 days' AS horizon) x
    ), starts AS (
        SELECT l.ld, greatest(b.first_hour, least(b.horizon, s.s)) AS s
          FROM bounds b
         CROSS JOIN LATERAL (
               SELECT b.first_ld + i AS ld,
                      date_trunc('hour', (b.first_ld + i)::timestamp AT TIME ZONE p_tz, 'UTC')
                          AS m
                 FROM generate_series(0, 400) AS i
                WHERE i <= b.last_i
               OFFSET 0) l
         CROSS JOIN LATERAL (
               SELECT min(l.m + k * interval '1 hour') AS s
                 FROM unnest(ARRAY[-2, -1, 0, 1, 2]) AS k
                WHERE ((l.m + k * interval '1 hour') AT TIME ZONE p_tz)::date >= l.ld) s
         WHERE NOT p_hourly
    ), spans AS MATERIALIZED (
        -- Materialized: each span's UTC days computed once, not for each of its three.
        SELECT t.ld, t.s, t.e, (t.s AT TIME ZONE 'UTC')::date AS first_day,
               ((t.e - interval '1 hour') AT TIME ZONE 'UTC')::date AS last_day
          FROM (SELECT ld, s, lead(s) OVER (ORDER BY ld) AS e FROM starts) t
         WHERE t.e > t.s
    ), runs AS MATERIALIZED (
        -- Materialized: inlined, lo and hi (numeric arithmetic) were computed again for each
        -- of the 24 subscripts that use them, most of the read's time.
        SELECT sp.ld, u.day,
               (extract(epoch FROM greatest(sp.s, u.at) - u.at) / 3600)::int AS lo,
               (extract(epoch FROM least(sp.e, u.at + interval '1 day') - u.at) / 3600)::int AS hi
          FROM spans sp
         CROSS JOIN LATERAL (
               SELECT sp.first_day + k AS day,
                      (sp.first_day + k)::timestamp AT TIME ZONE 'UTC' AS at
                 FROM unnest(ARRAY[0, 1, 2]) AS k
                WHERE k <= sp.last_day - sp.first_day) u
    ), hourly AS (
        SELECT 1 AS sign, h.*
          FROM buckets h
         WHERE (p_project IS NULL OR h.project_id = p_project)
           AND h.bucket_hour >= CASE WHEN p_hourly THEN p_since
                                     ELSE date_trunc('day', now(), 'UTC') + interval '2 days' END
        UNION ALL
        SELECT 1, h.*
          FROM daily d
          JOIN usage.task_usage_hourly h
            ON (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model)
             = (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model)
           AND h.project_id IS NOT DISTINCT FROM d.project_id
           AND h.bucket_hour >= d.day::timestamp AT TIME ZONE 'UTC'
           AND h.bucket_hour < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
         WHERE d.overflow AND NOT p_hourly
           AND (p_project IS NULL OR d.project_id = p_project)
           AND d.day >= (p_since AT TIME ZONE 'UTC')::date
           AND h.bucket_hour >= p_since
           AND h.bucket_hour < date_trunc('day', now(), 'UTC') + interval '2 days'
        UNION ALL
        SELECT -1, h.*
          FROM buckets h
         WHERE (p_project IS NULL OR h.project_id = p_project)
           AND h.bucket_hour = ANY (p_hours)
    )
    SELECT r.ld, NULL::timestamptz, d.workspace_id, d.runtime_id, d.agent_id, d.project_id,
           d.provider, d.model, d.cum[r.hi + 1][1] - d.cum[r.lo + 1][1],
           d.cum[r.hi + 1][2] - d.cum[r.lo + 1][2], d.cum[r.hi + 1][3] - d.cum[r.lo + 1][3],
           d.cum[r.hi + 1][4] - d.cum[r.lo + 1][4], d.cum[r.hi + 1][5] - d.cum[r.lo + 1][5],
           d.cum[r.hi + 1][6] - d.cum[r.lo + 1][6], d.cum[r.hi + 1][7] - d.cum[r.lo + 1][7],
           d.cum[r.hi + 1][8] - d.cum[r.lo + 1][8], d.cum[r.hi + 1][9] - d.cum[r.lo + 1][9],
           d.cum[r.hi + 1][10] - d.cum[r.lo + 1][10], d.cum[r.hi + 1][11] - d.cum[r.lo + 1][11],
           d.cum[r.hi + 1][12] - d.cum[r.lo + 1][12]
      FROM runs r
     CROSS JOIN LATERAL (
           SELECT * FROM daily d
            WHERE d.day = r.day AND d.cum IS NOT NULL
              AND (p_project IS NULL OR d.project_id = p_project)
              AND d.day >= (p_since AT TIME ZONE 'UTC')::date
              AND d.day < (date_trunc('day', now(), 'UTC') + interval '2 days')::date
           OFFSET 0) d
    UNION ALL
    SELECT (x.bucket_hour AT TIME ZONE p_tz)::date, x.bucket_hour, x.workspace_id, x.runtime_id,
           x.agent_id, x.project_id, x.provider, x.model, x.sign * x.input_tokens,
           x.sign * x.output_tokens, x.sign * x.cache_read_tokens, x.sign * x.cache_write_tokens,
           x.sign * x.task_count, x.sign * x.cost_usd_ticks, x.sign * x.uncosted_input_tokens,
           x.sign * x.uncosted_output_tokens, x.sign * x.uncosted_cache_read_tokens,
           x.sign * x.uncosted_cache_write_tokens, x.sign * x.estimated_cost_usd_ticks,
           x.sign * x.unpriced_tokens
      FROM hourly x
$$;
COMMENT ON FUNCTION usage.usage_rollup_rows(uuid, uuid, uuid, timestamptz, text, boolean,
                                            timestamptz[]) IS
    'Usage of a runtime or workspace (and project) from p_since on as the rollup holds it, by date in p_tz, from the daily level (or the hourly buckets), without the buckets of p_hours.';
GRANT EXECUTE ON FUNCTION usage.usage_rollup_rows(uuid, uuid, uuid, timestamptz, text, boolean,
                                                  timestamptz[]) TO multica_gateway;
