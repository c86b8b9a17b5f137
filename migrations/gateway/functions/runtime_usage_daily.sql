-- GET /api/runtimes/{id}/usage: Multica's GetRuntimeUsage rows, by date in p_tz, provider and
-- model, newest first, each naming the runtime last (so a CSV export starts with the date).
CREATE OR REPLACE FUNCTION gateway.runtime_usage_daily(p_runtime uuid, p_days integer, p_tz text,
                                                       p_raw boolean)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL: the plan is kept for the connection (a SQL function's is made per call).
    RETURN (
        SELECT coalesce(json_agg(to_json(r) ORDER BY r.date DESC, r.provider, r.model), '[]')::text
          FROM (SELECT g.date, g.provider, g.model, g.input_tokens, g.output_tokens,
                       g.cache_read_tokens, g.cache_write_tokens, g.cost_usd_ticks,
                       g.uncosted_input_tokens, g.uncosted_output_tokens,
                       g.uncosted_cache_read_tokens, g.uncosted_cache_write_tokens,
                       g.estimated_cost_usd_ticks, g.total_cost_usd_ticks, g.unpriced_tokens,
                       g.task_count, p_runtime AS runtime_id
                  FROM gateway.usage_groups(p_runtime, NULL, NULL, p_days, p_tz, p_raw,
                                            'day') g) r);
END
$$;
COMMENT ON FUNCTION gateway.runtime_usage_daily(uuid, integer, text, boolean) IS
    'A runtime''s usage by date in p_tz, provider and model over p_days days before today, as JSON rows.';
