-- The rollup window primitive, made cheap for small windows (the 5-minute tick). Two
-- changes to the function of 0006, with the same results:
-- 1. jit = off. The plan is estimated from per-hour range joins whose row counts the planner
--    cannot see (about 113,000 rows per hour estimated where 60 exist at 1M history rows), so
--    the estimated cost always cleared jit_above_cost and every tick spent 0.6-0.9 s compiling
--    expressions for a query that then ran in about 0.5 s (10,000 changed rows over 1M rows:
--    1.7 s with JIT, 0.46 s without).
-- 2. The rows of the dirty hours are collected first (a materialized CTE), then attributed by
--    one task_attribution primary-key probe each. As a plain join, the same misestimate made
--    the planner hash all of task_attribution on every tick: a cost that grows with history
--    (161 ms of that 0.46 s tick at 500,000 tasks), not with the number of changed buckets.
-- See docs/PERFORMANCE.md for the measurements.
CREATE OR REPLACE FUNCTION usage.rollup_task_usage_hourly_window(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp SET jit = off AS $$
DECLARE
    n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(4247);
    WITH dirty AS (
        SELECT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model,
               date_trunc('hour', u.created_at, 'UTC') AS bucket_hour
          FROM usage.task_usage u
          JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL
         WHERE u.updated_at >= p_from AND u.updated_at < p_to
        UNION
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour
          FROM usage.task_usage_dirty
         WHERE enqueued_at < p_to
    ), hours AS (
        SELECT DISTINCT bucket_hour FROM dirty
    ), hour_rows AS MATERIALIZED (
        -- Ground truth of every bucket in the dirty hours: one index range scan per hour.
        SELECT u.task_id, u.provider, u.model, h.bucket_hour, u.input_tokens, u.output_tokens,
               u.cache_read_tokens, u.cache_write_tokens
          FROM hours h
          JOIN usage.task_usage u
            ON u.created_at >= h.bucket_hour AND u.created_at < h.bucket_hour + interval '1 hour'
    ), sums AS (
        -- Attribution by one primary-key probe per row. The planner cannot see how few rows
        -- the dirty hours hold (it guesses about 1/9 of the table per hour), and as a plain
        -- join it hashed all of task_attribution: a cost that grew with history, not with the
        -- change. The materialized CTE and OFFSET 0 fix the order: rows first, then probes.
        SELECT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model, u.bucket_hour,
               sum(u.input_tokens) AS input_tokens,
               sum(u.output_tokens) AS output_tokens,
               sum(u.cache_read_tokens) AS cache_read_tokens,
               sum(u.cache_write_tokens) AS cache_write_tokens,
               count(*)::integer AS task_count
          FROM hour_rows u
          CROSS JOIN LATERAL (
                SELECT a.workspace_id, a.runtime_id, a.agent_id
                  FROM usage.task_attribution a
                 WHERE a.task_id = u.task_id AND a.deleted_at IS NULL
                OFFSET 0) a
         GROUP BY 1, 2, 3, 4, 5, 6
    ), fresh AS (
        SELECT d.*, s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens,
               coalesce(s.task_count, 0) AS task_count
          FROM dirty d
          LEFT JOIN sums s USING (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
    ), too_big AS (
        -- Sums are numeric until here: a bucket whose sums do not fit the bigint columns is
        -- quarantined and left as it was, and the rest of the window goes on. Buckets that fit
        -- again leave the quarantine.
        SELECT * FROM fresh
         WHERE greatest(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
               > 9223372036854775807
    ), quarantined AS (
        INSERT INTO usage.rollup_quarantine AS q
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, task_count)
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
               output_tokens, cache_read_tokens, cache_write_tokens, task_count
          FROM too_big
        ON CONFLICT (workspace_id, runtime_id, agent_id, provider, model, bucket_hour) DO UPDATE
           SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
               cache_read_tokens = EXCLUDED.cache_read_tokens,
               cache_write_tokens = EXCLUDED.cache_write_tokens,
               task_count = EXCLUDED.task_count, last_seen_at = now()
        RETURNING 1
    ), released AS (
        DELETE FROM usage.rollup_quarantine q
         USING fresh f
         WHERE (q.workspace_id, q.runtime_id, q.agent_id, q.provider, q.model, q.bucket_hour)
             = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model, f.bucket_hour)
           AND NOT EXISTS (SELECT 1 FROM too_big t
                            WHERE (t.workspace_id, t.runtime_id, t.agent_id, t.provider, t.model,
                                   t.bucket_hour)
                                = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model,
                                   f.bucket_hour))
        RETURNING 1
    ), fits AS (
        SELECT f.* FROM fresh f
         WHERE NOT EXISTS (SELECT 1 FROM too_big t
                            WHERE (t.workspace_id, t.runtime_id, t.agent_id, t.provider, t.model,
                                   t.bucket_hour)
                                = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model,
                                   f.bucket_hour))
    ), upserted AS (
        INSERT INTO usage.task_usage_hourly AS h
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, task_count)
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour,
               input_tokens::bigint, output_tokens::bigint, cache_read_tokens::bigint,
               cache_write_tokens::bigint, task_count
          FROM fits WHERE task_count > 0
        ON CONFLICT (workspace_id, runtime_id, agent_id, provider, model, bucket_hour) DO UPDATE
           SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
               cache_read_tokens = EXCLUDED.cache_read_tokens,
               cache_write_tokens = EXCLUDED.cache_write_tokens,
               task_count = EXCLUDED.task_count,
               revision = nextval('usage.task_usage_hourly_revision_seq'), updated_at = now()
         WHERE (h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens,
                h.task_count)
               IS DISTINCT FROM (EXCLUDED.input_tokens, EXCLUDED.output_tokens,
                                 EXCLUDED.cache_read_tokens, EXCLUDED.cache_write_tokens,
                                 EXCLUDED.task_count)
        RETURNING h.*
    ), removed AS (
        DELETE FROM usage.task_usage_hourly h
         USING fits f
         WHERE f.task_count = 0
           AND (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model, h.bucket_hour)
             = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model, f.bucket_hour)
        RETURNING h.*
    )
    INSERT INTO usage.hourly_outbox
           (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
            output_tokens, cache_read_tokens, cache_write_tokens, task_count, deleted, revision)
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
           output_tokens, cache_read_tokens, cache_write_tokens, task_count, false, revision
      FROM upserted
    UNION ALL
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, 0, 0, 0, 0, 0, true,
           nextval('usage.task_usage_hourly_revision_seq')
      FROM removed;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.rollup_task_usage_hourly_window(timestamptz, timestamptz) IS
    'Recomputes and replaces the hourly buckets dirty in [p_from, p_to) (updated rows plus queued invalidations); returns buckets changed. A bucket whose sums do not fit a bigint goes to usage.rollup_quarantine instead of failing the window. Idempotent; safe to overlap. Runs without JIT and attributes rows by primary-key probes, so a small window costs what its dirty hours hold.';
REVOKE ALL ON FUNCTION usage.rollup_task_usage_hourly_window(timestamptz, timestamptz) FROM PUBLIC;
