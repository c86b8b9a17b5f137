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
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off AS $$
#variable_conflict use_column
DECLARE
    wm timestamptz;
    hours timestamptz[];
    m text;
    b xid8 := pg_snapshot_xmin(pg_current_snapshot());
    nb bigint;
    ns bigint;
BEGIN
    SELECT s.watermark INTO wm FROM usage.rollup_state s;
    SELECT array_agg(f.h ORDER BY f.h) INTO hours
      FROM usage.usage_runtime_fresh_hours(p_runtime, p_since, wm) AS f(h);
    SELECT v.revision || '|' || coalesce(hours::text, '') INTO m FROM usage.price_revision v;
    IF p_after IS NOT NULL THEN
        SELECT count(*) FILTER (WHERE d.logged_xid < p_after),
               count(*) FILTER (WHERE d.logged_xid < b)
          INTO nb, ns
          FROM usage.task_usage_delta d
         WHERE d.runtime_id = p_runtime AND d.created_at >= p_since - interval '1 hour';
    END IF;
    RETURN QUERY SELECT m, b, nb, ns, d.*
                   FROM usage.usage_delta_parts(p_runtime, NULL, p_since, hours, p_tz, p_after,
                                                b) d;
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
    RETURN QUERY SELECT m, b, nb, ns, NULL::boolean, NULL::date, NULL::timestamptz, NULL::uuid,
                        NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::text, NULL::bigint,
                        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                        NULL::bigint;
END
$$;
COMMENT ON FUNCTION usage.usage_fresh_parts(uuid, timestamptz, text, xid8) IS
    'usage_fresh_rows'' rows of the changes logged from p_after on (all: NULL), marked settled or not, with the marks a gateway keeping priced changes checks them by (catalogue revision and hours taken whole, the snapshot''s boundary, the counts of changes below p_after and below the boundary), and a last row of the marks alone.';
GRANT EXECUTE ON FUNCTION usage.usage_fresh_parts(uuid, timestamptz, text, xid8)
    TO multica_gateway;
