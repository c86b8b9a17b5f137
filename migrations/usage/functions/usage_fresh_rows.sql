-- What a runtime's daily read adds to the rollup's rows of its window (usage.usage_rollup_window,
-- kept by the gateway): the rollup's pending changes for the runtime. For the hours it takes
-- whole (usage.usage_runtime_fresh_hours: queued buckets, rows of unknown runtime), the
-- rollup's buckets of those hours with a negative sign (to take out) and task_usage's rows of
-- those hours (to add); for the others, the runtime's changes logged and not folded yet
-- (usage.usage_delta_rows: what the next fold adds to its buckets), dated in p_tz; nothing when
-- there are none. Exactly the rows by which usage.usage_rows differs from
-- usage.usage_rollup_window (the same watermark, hours and queries), so that the gateway's sum
-- is usage.usage_rows' answer. PL/pgSQL for the reason usage.usage_rows is: the watermark and
-- the hours reach the planner as values. Without JIT, as usage.usage_rows reads these hours.
CREATE OR REPLACE FUNCTION usage.usage_fresh_rows(p_runtime uuid, p_since timestamptz, p_tz text)
RETURNS SETOF usage.usage_row
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off AS $$
DECLARE
    wm timestamptz;
    hours timestamptz[];
BEGIN
    SELECT s.watermark INTO wm FROM usage.rollup_state s;
    SELECT array_agg(f.h) INTO hours
      FROM usage.usage_runtime_fresh_hours(p_runtime, p_since, wm) AS f(h);
    RETURN QUERY SELECT * FROM usage.usage_delta_rows(p_runtime, NULL, p_since, hours, p_tz);
    IF hours IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT (h.bucket_hour AT TIME ZONE p_tz)::date, h.bucket_hour, h.workspace_id,
               h.runtime_id, h.agent_id, h.project_id, h.provider, h.model,
               -1 * h.input_tokens, -1 * h.output_tokens, -1 * h.cache_read_tokens,
               -1 * h.cache_write_tokens, (-1 * h.task_count)::bigint, -1 * h.cost_usd_ticks,
               -1 * h.uncosted_input_tokens, -1 * h.uncosted_output_tokens,
               -1 * h.uncosted_cache_read_tokens, -1 * h.uncosted_cache_write_tokens,
               -1 * h.estimated_cost_usd_ticks, -1 * h.unpriced_tokens
          FROM usage.task_usage_hourly h
         WHERE h.runtime_id = p_runtime AND h.bucket_hour = ANY (hours);
    RETURN QUERY SELECT * FROM usage.usage_raw_rows(p_runtime, NULL, NULL, NULL, hours, p_tz);
END
$$;
COMMENT ON FUNCTION usage.usage_fresh_rows(uuid, timestamptz, text) IS
    'A runtime''s changes the rollup has not folded, by date in p_tz: its logged changes (usage_delta_rows), and for the hours it takes whole its buckets negated and task_usage''s rows; what a daily read adds to the kept rollup rows.';
GRANT EXECUTE ON FUNCTION usage.usage_fresh_rows(uuid, timestamptz, text) TO multica_gateway;
