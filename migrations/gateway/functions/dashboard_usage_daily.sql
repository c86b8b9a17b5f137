-- GET /api/dashboard/usage/daily: a workspace's (or one project's) sums by date in p_tz,
-- provider and model, newest first.
CREATE OR REPLACE FUNCTION gateway.dashboard_usage_daily(p_workspace uuid, p_days integer,
                                                         p_tz text, p_project uuid,
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
                       g.task_count
                  FROM gateway.usage_groups(NULL, p_workspace, p_project, p_days, p_tz, p_raw,
                                            'day') g) r);
END
$$;
COMMENT ON FUNCTION gateway.dashboard_usage_daily(uuid, integer, text, uuid, boolean) IS
    'A workspace''s (or project''s) usage by date in p_tz, provider and model over p_days days, as JSON rows.';
