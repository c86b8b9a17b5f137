-- usage.usage_fresh_rows' rows for a gateway that keeps a runtime's unfolded changes priced and
-- summed (services/api-gateway/usage_daily_cache.c), so that a busy runtime's read prices only
-- the changes it has not seen. p_after NULL: every change, as usage_fresh_rows; else only
-- those logged by a transaction from p_after on (usage.task_usage_delta.logged_xid, 0027).
-- Every row carries the read's marks, and one last row carries only them (settled NULL):
--   mark       the price catalogue's revision and the hours the read takes whole (sorted):
--              the kept sums hold only for the same (a price change re-prices every change, and
--              an hour taken whole, queued for a move or deletion, replaces its changes);
--   boundary   the oldest transaction running in this snapshot (pg_snapshot_xmin): every change
--              logged below it is in this read or never will be;
--   n_before   how many of the runtime's changes in the window were logged below p_after: the
--              gateway kept that many; fewer now means some went (folded, recomputed, moved
--              away: a move restamps a change, functions/task_usage_delta_xid.sql, so none can
--              come below a boundary) and the kept sums no longer hold;
--   n_settled  how many were logged below boundary: what the gateway keeps after this read;
--   settled    a delta row of changes logged below boundary (true: the gateway adds it to what
--              it keeps) or a row of this read only (false: the changes of transactions from
--              boundary on, and the hours taken whole).
-- The same statements as usage_fresh_rows otherwise, in one snapshot: a STABLE function's
-- statements run in its caller's, so boundary, the counts and the rows agree.
-- A read with nothing to add (no hour taken whole, no change logged from p_after on: a quiet
-- runtime, or a busy one whose changes the gateway already keeps) runs one statement: the
-- watermark, the hours, the catalogue's revision and the three counts of one scan of the
-- runtime's logged changes together, with one generic plan per session (its inputs reach it as
-- parameters, and each part is an index probe by the runtime whatever they are: planned per
-- call, it cost more than it runs). Otherwise, the statements that read rows (the changes'
-- pricing, the hours' buckets and rows) run as before, planned per call (the hours reach the
-- planner as values), the pricing statement with its own generic plan (usage_delta_parts).
CREATE OR REPLACE FUNCTION usage.usage_fresh_parts(p_runtime uuid, p_since timestamptz,
                                                   p_tz text, p_after xid8)
RETURNS TABLE (mark text, boundary xid8, n_before bigint, n_settled bigint, settled boolean,
               date date, bucket_hour timestamptz, workspace_id uuid, runtime_id uuid,
               agent_id uuid, project_id uuid, provider text, model text, input_tokens bigint,
               output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint,
               task_count bigint, cost_usd_ticks bigint, uncosted_input_tokens bigint,
               uncosted_output_tokens bigint, uncosted_cache_read_tokens bigint,
               uncosted_cache_write_tokens bigint, estimated_cost_usd_ticks bigint,
               unpriced_tokens bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan SET jit = off AS $$
#variable_conflict use_column
DECLARE
    hours timestamptz[];
    m text;
    b xid8 := pg_snapshot_xmin(pg_current_snapshot());
    nb bigint;
    ns bigint;
    nn bigint;
BEGIN
    -- n_new: the changes logged from p_after on, which usage_delta_parts would read (the same
    -- runtime, window and position): none, and it has nothing to return. With p_after NULL,
    -- no count (NULL) and no scan.
    SELECT (SELECT v.revision FROM usage.price_revision v) || '|' || coalesce(f.hours::text, ''),
           f.hours, CASE WHEN p_after IS NOT NULL THEN c.n_before END,
           CASE WHEN p_after IS NOT NULL THEN c.n_settled END, c.n_new
      INTO m, hours, nb, ns, nn
      -- The watermark as a column (OFFSET 0 keeps it one): a subquery in the hours function's
      -- arguments would stop Postgres inlining it, and a function not inlined is planned on
      -- every call (0.45-0.9 ms a read, read12's profile).
      FROM (SELECT (SELECT s.watermark FROM usage.rollup_state s) AS watermark OFFSET 0) w
     CROSS JOIN LATERAL (
           SELECT array_agg(x.h ORDER BY x.h) AS hours
             FROM usage.usage_runtime_fresh_hours(p_runtime, p_since, w.watermark) AS x(h)) f
      LEFT JOIN LATERAL (
           SELECT count(*) FILTER (WHERE d.logged_xid < p_after) AS n_before,
                  count(*) FILTER (WHERE d.logged_xid < b) AS n_settled,
                  count(*) FILTER (WHERE d.logged_xid >= p_after) AS n_new
             FROM usage.task_usage_delta d
            WHERE d.runtime_id = p_runtime AND d.created_at >= p_since - interval '1 hour'
              AND p_after IS NOT NULL) c ON true;
    IF p_after IS NULL OR nn > 0 OR hours IS NOT NULL THEN
        PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
        IF p_after IS NULL OR nn > 0 THEN
            RETURN QUERY SELECT m, b, nb, ns, d.*
                           FROM usage.usage_delta_parts(p_runtime, NULL, p_since, hours, p_tz,
                                                        p_after, b) d;
        END IF;
    END IF;
    IF hours IS NOT NULL THEN
        RETURN QUERY
            SELECT m, b, nb, ns, false, (h.bucket_hour AT TIME ZONE p_tz)::date, h.bucket_hour,
                   h.workspace_id, h.runtime_id, h.agent_id, h.project_id, h.provider, h.model,
                   -1 * h.input_tokens, -1 * h.output_tokens, -1 * h.cache_read_tokens,
                   -1 * h.cache_write_tokens, (-1 * h.task_count)::bigint, -1 * h.cost_usd_ticks,
                   -1 * h.uncosted_input_tokens, -1 * h.uncosted_output_tokens,
                   -1 * h.uncosted_cache_read_tokens, -1 * h.uncosted_cache_write_tokens,
                   -1 * h.estimated_cost_usd_ticks, -1 * h.unpriced_tokens
              FROM usage.task_usage_hourly h
             WHERE h.runtime_id = p_runtime AND h.bucket_hour = ANY (hours);
        RETURN QUERY SELECT m, b, nb, ns, false, r.*
                       FROM usage.usage_raw_rows(p_runtime, NULL, NULL, NULL, hours, p_tz) r;
    END IF;
    -- The marks' row: the output columns, all NULL but these four (no statement).
    mark := m;
    boundary := b;
    n_before := nb;
    n_settled := ns;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION usage.usage_fresh_parts(uuid, timestamptz, text, xid8) IS
    'usage_fresh_rows'' rows of the changes logged from p_after on (all: NULL), marked settled or not, with the marks a gateway keeping priced changes checks them by (catalogue revision and hours taken whole, the snapshot''s boundary, the counts of changes below p_after and below the boundary), and a last row of the marks alone.';
GRANT EXECUTE ON FUNCTION usage.usage_fresh_parts(uuid, timestamptz, text, xid8)
    TO multica_gateway;
