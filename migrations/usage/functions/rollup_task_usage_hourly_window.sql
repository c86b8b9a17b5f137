-- The rollup window primitive: recomputes the hourly buckets dirty in [p_from, p_to) from the
-- raw rows and replaces them. A bucket is (workspace, runtime, agent, provider, model, UTC
-- hour, project); the project is the current one of the task's issue (NULL for none), and is
-- compared NULL-safely, as Multica keys its hourly table. Each bucket carries its tokens and
-- its cost in the parts usage.row_cost gives per row, at the rates usage.price_segments finds
-- in force when each row was created.
-- Made cheap for small windows (the 5-minute tick), with the same results:
-- 1. jit = off. The plan is estimated from per-hour range joins whose row counts the planner
--    cannot see (about 113,000 rows per hour estimated where 60 exist at 1M history rows), so
--    the estimated cost always cleared jit_above_cost and every tick spent 0.6-0.9 s compiling
--    expressions for a query that then ran in about 0.5 s (10,000 changed rows over 1M rows:
--    1.7 s with JIT, 0.46 s without).
-- 2. The rows of the dirty hours are collected first (a materialized CTE), then attributed by
--    one task_attribution primary-key probe each. As a plain join, the same misestimate made
--    the planner hash all of task_attribution on every tick: a cost that grows with history
--    (161 ms of that 0.46 s tick at 500,000 tasks), not with the number of changed buckets.
-- Within the CTEs a bucket's project is compared through p0 (the project, or the zero UUID for
-- none), so joins stay hashable; against the hourly table the six columns that are never NULL
-- find the bucket and the project is compared with IS NOT DISTINCT FROM.
-- The scheduled run folds the logged changes of task_usage (usage.rollup_fold_deltas) and
-- calls this for the queued buckets only; backfill and repair call it over a time range.
-- Either way the logged changes of the buckets it replaces are deleted with them.
-- See docs/PERFORMANCE.md for the measurements.
CREATE OR REPLACE FUNCTION usage.rollup_task_usage_hourly_window(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp SET jit = off AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4247);
    PERFORM usage.rollup_out_open();
    WITH dirty AS (
        SELECT k.*, coalesce(k.project_id, '00000000-0000-0000-0000-000000000000') AS p0
          FROM (SELECT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model,
                       date_trunc('hour', u.created_at, 'UTC') AS bucket_hour, ip.project_id
                  FROM usage.task_usage u
                  JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL
                  LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
                 WHERE u.updated_at >= p_from AND u.updated_at < p_to
                   -- The scheduled run's window is empty (upto, upto): no scan. A range
                   -- (the backfill, a repair) reads task_usage sequentially, since
                   -- migration 0028 dropped its updated_at index.
                   AND p_from < p_to
                UNION
                SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id
                  FROM usage.task_usage_dirty
                 WHERE enqueued_at < p_to) k
    ), consumed AS (
        -- The logged changes of the buckets replaced here are in the rows read here: they
        -- leave the log in this statement, or the next fold would count them again.
        DELETE FROM usage.task_usage_delta x
         USING usage.task_attribution a
               LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id,
               dirty d
         WHERE a.task_id = x.task_id AND a.deleted_at IS NULL
           AND (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.bucket_hour)
             = (a.workspace_id, a.runtime_id, a.agent_id, x.provider, x.model,
                date_trunc('hour', x.created_at, 'UTC'))
           AND d.p0 = coalesce(ip.project_id, '00000000-0000-0000-0000-000000000000')
    ), hours AS (
        SELECT DISTINCT bucket_hour FROM dirty
    ), hour_rows AS MATERIALIZED (
        -- Ground truth of every bucket in the dirty hours: one index probe per hour, by the
        -- UTC hour of created_at (task_usage_created_hour_idx, migration 0029; bucket_hour is
        -- that hour, as a timestamptz).
        SELECT u.task_id, u.provider, u.model, h.bucket_hour, u.created_at, u.input_tokens,
               u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.cost_usd_ticks
          FROM hours h
          JOIN usage.task_usage u
            ON date_trunc('hour', u.created_at AT TIME ZONE 'UTC')
             = h.bucket_hour AT TIME ZONE 'UTC'
    ), attributed AS MATERIALIZED (
        -- Attribution by one primary-key probe per row. The planner cannot see how few rows
        -- the dirty hours hold (it guesses about 1/9 of the table per hour), and as a plain
        -- join it hashed all of task_attribution: a cost that grew with history, not with the
        -- change. The materialized CTE and OFFSET 0 fix the order: rows first, then probes.
        SELECT a.workspace_id, a.runtime_id, a.agent_id, a.project_id, u.*
          FROM hour_rows u
          CROSS JOIN LATERAL (
                SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id
                  FROM usage.task_attribution a
                  LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
                 WHERE a.task_id = u.task_id AND a.deleted_at IS NULL
                OFFSET 0) a
    ), seg AS (
        -- The catalogue's entries in force for the (workspace, provider, model) keys of these
        -- rows, looked up once per key rather than once per row.
        SELECT s.*
          FROM (SELECT array_agg(workspace_id) AS w, array_agg(provider) AS p,
                       array_agg(model) AS m
                  FROM (SELECT DISTINCT workspace_id, provider, model FROM attributed) d) k
          CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s
    ), sums AS (
        SELECT x.workspace_id, x.runtime_id, x.agent_id, x.provider, x.model, x.bucket_hour,
               coalesce(x.project_id, '00000000-0000-0000-0000-000000000000') AS p0,
               sum(x.input_tokens) AS input_tokens,
               sum(x.output_tokens) AS output_tokens,
               sum(x.cache_read_tokens) AS cache_read_tokens,
               sum(x.cache_write_tokens) AS cache_write_tokens,
               count(*)::integer AS task_count,
               sum(c.cost_usd_ticks) AS cost_usd_ticks,
               sum(c.uncosted_input_tokens) AS uncosted_input_tokens,
               sum(c.uncosted_output_tokens) AS uncosted_output_tokens,
               sum(c.uncosted_cache_read_tokens) AS uncosted_cache_read_tokens,
               sum(c.uncosted_cache_write_tokens) AS uncosted_cache_write_tokens,
               sum(c.estimated_cost_usd_ticks) AS estimated_cost_usd_ticks,
               sum(c.unpriced_tokens) AS unpriced_tokens
          FROM attributed x
          LEFT JOIN seg s
            ON s.workspace_id = x.workspace_id AND s.provider = x.provider AND s.model = x.model
           AND x.created_at >= s.valid_from AND (s.valid_until IS NULL OR x.created_at < s.valid_until)
          CROSS JOIN LATERAL usage.row_cost(x.input_tokens, x.output_tokens, x.cache_read_tokens,
                                            x.cache_write_tokens, x.cost_usd_ticks,
                                            s.input_ticks_per_mtok, s.output_ticks_per_mtok,
                                            s.cache_read_ticks_per_mtok,
                                            s.cache_write_ticks_per_mtok) c
         GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), fresh AS (
        SELECT d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.bucket_hour,
               d.project_id, d.p0, s.input_tokens, s.output_tokens, s.cache_read_tokens,
               s.cache_write_tokens, coalesce(s.task_count, 0) AS task_count, s.cost_usd_ticks,
               s.uncosted_input_tokens, s.uncosted_output_tokens, s.uncosted_cache_read_tokens,
               s.uncosted_cache_write_tokens, s.estimated_cost_usd_ticks, s.unpriced_tokens
          FROM dirty d
          LEFT JOIN sums s USING (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, p0)
    ), too_big AS (
        -- Sums are numeric until here: a bucket whose sums do not fit the bigint columns is
        -- quarantined and left as it was, and the rest of the window goes on. Buckets that fit
        -- again leave the quarantine.
        SELECT * FROM fresh
         WHERE greatest(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                        cost_usd_ticks, estimated_cost_usd_ticks, unpriced_tokens)
               > 9223372036854775807
    ), quarantined AS (
        INSERT INTO usage.rollup_quarantine AS q
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
                cost_usd_ticks, estimated_cost_usd_ticks)
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
               cost_usd_ticks, estimated_cost_usd_ticks
          FROM too_big
        ON CONFLICT ON CONSTRAINT rollup_quarantine_key DO UPDATE
           SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
               cache_read_tokens = EXCLUDED.cache_read_tokens,
               cache_write_tokens = EXCLUDED.cache_write_tokens,
               task_count = EXCLUDED.task_count, cost_usd_ticks = EXCLUDED.cost_usd_ticks,
               estimated_cost_usd_ticks = EXCLUDED.estimated_cost_usd_ticks, last_seen_at = now()
        RETURNING 1
    ), fits AS (
        SELECT f.* FROM fresh f
         WHERE NOT EXISTS (SELECT 1 FROM too_big t
                            WHERE (t.workspace_id, t.runtime_id, t.agent_id, t.provider, t.model,
                                   t.bucket_hour, t.p0)
                                = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model,
                                   f.bucket_hour, f.p0))
    ), released AS (
        DELETE FROM usage.rollup_quarantine q
         USING fits f
         WHERE (q.workspace_id, q.runtime_id, q.agent_id, q.provider, q.model, q.bucket_hour)
             = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model, f.bucket_hour)
           AND q.project_id IS NOT DISTINCT FROM f.project_id
        RETURNING 1
    )
    INSERT INTO mc_rollup_out
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
           input_tokens::bigint, output_tokens::bigint, cache_read_tokens::bigint,
           cache_write_tokens::bigint, task_count, cost_usd_ticks::bigint,
           uncosted_input_tokens::bigint, uncosted_output_tokens::bigint,
           uncosted_cache_read_tokens::bigint, uncosted_cache_write_tokens::bigint,
           estimated_cost_usd_ticks::bigint, unpriced_tokens::bigint
      FROM fits;
    RETURN usage.rollup_store_buckets();
END
$$;
COMMENT ON FUNCTION usage.rollup_task_usage_hourly_window(timestamptz, timestamptz) IS
    'Recomputes and replaces the hourly buckets dirty in [p_from, p_to) (updated rows plus queued invalidations), tokens and cost; returns buckets changed. The project is part of the key, compared NULL-safely. A bucket whose sums do not fit a bigint goes to usage.rollup_quarantine instead of failing the window. Idempotent; safe to overlap. Runs without JIT and attributes rows by primary-key probes, so a small window costs what its dirty hours hold.';
REVOKE ALL ON FUNCTION usage.rollup_task_usage_hourly_window(timestamptz, timestamptz) FROM PUBLIC;
