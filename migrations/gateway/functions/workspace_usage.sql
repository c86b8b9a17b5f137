-- GET /api/workspaces/{id}/usage: a workspace's sums by date in p_tz and key, the key being
-- the agent, runtime or project id or provider/model (p_group: agent, runtime, project,
-- model), oldest first.
CREATE OR REPLACE FUNCTION gateway.workspace_usage(p_workspace uuid, p_days integer, p_tz text,
                                                   p_group text, p_raw boolean)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL: the plan is kept for the connection (a SQL function's is made per call).
    RETURN (
        SELECT coalesce(json_agg(to_json(r) ORDER BY r.date, r.key NULLS FIRST), '[]')::text
          FROM (SELECT g.date, g.key, g.input_tokens, g.output_tokens, g.cache_read_tokens,
                       g.cache_write_tokens, g.cost_usd_ticks, g.uncosted_input_tokens,
                       g.uncosted_output_tokens, g.uncosted_cache_read_tokens,
                       g.uncosted_cache_write_tokens, g.estimated_cost_usd_ticks,
                       g.total_cost_usd_ticks, g.unpriced_tokens, g.task_count
                  FROM gateway.usage_groups(NULL, p_workspace, NULL, p_days, p_tz, p_raw,
                                            'day:' || p_group) g) r);
END
$$;
COMMENT ON FUNCTION gateway.workspace_usage(uuid, integer, text, text, boolean) IS
    'A workspace''s usage by date in p_tz and agent, runtime, project or model over p_days days, as JSON rows.';
