-- GET /api/runtimes/{id}/usage/by-hour: the sums by hour of the day in p_tz (0-23) and model.
CREATE OR REPLACE FUNCTION gateway.runtime_usage_by_hour(p_runtime uuid, p_days integer,
                                                         p_tz text, p_raw boolean)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL: the plan is kept for the connection (a SQL function's is made per call).
    RETURN (
        SELECT coalesce(json_agg(to_json(r) ORDER BY r.hour, r.model), '[]')::text
          FROM (SELECT g.hour, g.model, g.input_tokens, g.output_tokens, g.cache_read_tokens,
                       g.cache_write_tokens, g.cost_usd_ticks, g.uncosted_input_tokens,
                       g.uncosted_output_tokens, g.uncosted_cache_read_tokens,
                       g.uncosted_cache_write_tokens, g.estimated_cost_usd_ticks,
                       g.total_cost_usd_ticks, g.unpriced_tokens, g.task_count
                  FROM gateway.usage_groups(p_runtime, NULL, NULL, p_days, p_tz, p_raw,
                                            'hour') g) r);
END
$$;
COMMENT ON FUNCTION gateway.runtime_usage_by_hour(uuid, integer, text, boolean) IS
    'A runtime''s usage by hour of the day in p_tz and model over p_days days, as JSON rows.';
