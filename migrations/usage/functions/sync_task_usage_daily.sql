-- Recomputes the daily rows of the given (bucket key, UTC day) pairs from task_usage_hourly
-- (one row per pair in the arrays, repeats allowed): the running sums of the day's 24 hours,
-- or no row when the day has no bucket. The trigger on the hourly table adds most changes to
-- the stored sums instead (usage.task_usage_hourly_to_daily); it calls this for the days it
-- does not add to (a day with no row yet, a day with more than three of its hours changed by
-- one statement, a day past a bigint) and the first fill calls it for every day, so the level stays equal to the
-- hourly table however that table was written (the rollup, the backfill, a repair). The
-- trigger serializes writers (lock 4247), so two transactions never write the same day from
-- different snapshots. A day whose sums exceed a bigint keeps cum NULL: reads then take its
-- hours from task_usage_hourly.
CREATE OR REPLACE FUNCTION usage.sync_task_usage_daily(
    p_workspace uuid[], p_runtime uuid[], p_agent uuid[], p_provider text[], p_model text[],
    p_project uuid[], p_day date[])
RETURNS integer
LANGUAGE sql AS $$
    WITH kd AS (
        SELECT row_number() OVER () AS id, k.*
          FROM (SELECT DISTINCT *
                  FROM unnest(p_workspace, p_runtime, p_agent, p_provider, p_model, p_project,
                              p_day)
                       AS k(workspace_id, runtime_id, agent_id, provider, model, project_id, day)) k
    ), hv AS (
        SELECT kd.id, extract(hour FROM h.bucket_hour AT TIME ZONE 'UTC')::int AS j,
               h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens,
               h.task_count, h.cost_usd_ticks, h.uncosted_input_tokens, h.uncosted_output_tokens,
               h.uncosted_cache_read_tokens, h.uncosted_cache_write_tokens,
               h.estimated_cost_usd_ticks, h.unpriced_tokens
          FROM kd
          JOIN usage.task_usage_hourly h
            ON (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model)
             = (kd.workspace_id, kd.runtime_id, kd.agent_id, kd.provider, kd.model)
           AND h.project_id IS NOT DISTINCT FROM kd.project_id
           AND h.bucket_hour >= kd.day::timestamp AT TIME ZONE 'UTC'
           AND h.bucket_hour < (kd.day + 1)::timestamp AT TIME ZONE 'UTC'
    ), run AS (
        -- The sums of hours 0..j, numeric so that a day beyond a bigint is seen, not an error.
        SELECT kd.id, g.j,
               sum(coalesce(hv.input_tokens, 0)) OVER w AS c1, sum(coalesce(hv.output_tokens, 0)) OVER w AS c2,
               sum(coalesce(hv.cache_read_tokens, 0)) OVER w AS c3, sum(coalesce(hv.cache_write_tokens, 0)) OVER w AS c4,
               sum(coalesce(hv.task_count, 0)) OVER w AS c5, sum(coalesce(hv.cost_usd_ticks, 0)) OVER w AS c6,
               sum(coalesce(hv.uncosted_input_tokens, 0)) OVER w AS c7,
               sum(coalesce(hv.uncosted_output_tokens, 0)) OVER w AS c8,
               sum(coalesce(hv.uncosted_cache_read_tokens, 0)) OVER w AS c9,
               sum(coalesce(hv.uncosted_cache_write_tokens, 0)) OVER w AS c10,
               sum(coalesce(hv.estimated_cost_usd_ticks, 0)) OVER w AS c11,
               sum(coalesce(hv.unpriced_tokens, 0)) OVER w AS c12
          FROM kd
         CROSS JOIN generate_series(0, 23) AS g(j)
          LEFT JOIN hv ON hv.id = kd.id AND hv.j = g.j
        WINDOW w AS (PARTITION BY kd.id ORDER BY g.j)
    ), days AS (
        SELECT id, max(c5) AS tasks,
               max(greatest(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12))
                   <= 9223372036854775807 AS fits,
               '{{0,0,0,0,0,0,0,0,0,0,0,0}}'::bigint[]
               || array_agg(ARRAY[b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12] ORDER BY j)
                   AS cum
          FROM run
         CROSS JOIN LATERAL (
               -- Clamped to a bigint so the array can be built; a day that does not fit is
               -- stored without it (fits).
               SELECT least(c1, 9223372036854775807)::bigint AS b1,
                      least(c2, 9223372036854775807)::bigint AS b2,
                      least(c3, 9223372036854775807)::bigint AS b3,
                      least(c4, 9223372036854775807)::bigint AS b4,
                      least(c5, 9223372036854775807)::bigint AS b5,
                      least(c6, 9223372036854775807)::bigint AS b6,
                      least(c7, 9223372036854775807)::bigint AS b7,
                      least(c8, 9223372036854775807)::bigint AS b8,
                      least(c9, 9223372036854775807)::bigint AS b9,
                      least(c10, 9223372036854775807)::bigint AS b10,
                      least(c11, 9223372036854775807)::bigint AS b11,
                      least(c12, 9223372036854775807)::bigint AS b12) b
         GROUP BY id
    ), upserted AS (
        INSERT INTO usage.task_usage_daily AS d
               (workspace_id, runtime_id, agent_id, provider, model, project_id, day, cum)
        SELECT kd.workspace_id, kd.runtime_id, kd.agent_id, kd.provider, kd.model, kd.project_id,
               kd.day, CASE WHEN days.fits THEN days.cum END
          FROM kd JOIN days USING (id)
         WHERE days.tasks > 0
        ON CONFLICT ON CONSTRAINT task_usage_daily_key DO UPDATE SET cum = EXCLUDED.cum
        RETURNING 1
    ), removed AS (
        DELETE FROM usage.task_usage_daily d
         USING kd JOIN days USING (id)
         WHERE days.tasks = 0
           AND (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
             = (kd.workspace_id, kd.runtime_id, kd.agent_id, kd.provider, kd.model, kd.day)
           AND d.project_id IS NOT DISTINCT FROM kd.project_id
        RETURNING 1
    )
    SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM removed))::integer
$$;
COMMENT ON FUNCTION usage.sync_task_usage_daily(uuid[], uuid[], uuid[], text[], text[], uuid[],
                                                date[]) IS
    'Recomputes the task_usage_daily rows of the given (bucket key, UTC day) pairs from task_usage_hourly; returns rows written or removed.';
REVOKE ALL ON FUNCTION usage.sync_task_usage_daily(uuid[], uuid[], uuid[], text[], text[], uuid[],
                                                   date[]) FROM PUBLIC;
