-- GET /api/runtimes/{id}/usage/by-agent and /api/dashboard/usage/by-agent: the sums by agent,
-- provider and model of a runtime, or of a workspace (and project), since local midnight
-- p_days days before today in p_tz.
CREATE OR REPLACE FUNCTION gateway.usage_by_agent(p_runtime uuid, p_workspace uuid,
                                                  p_project uuid, p_days integer, p_tz text,
                                                  p_raw boolean)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL: the plan is kept for the connection (a SQL function's is made per call).
    RETURN (
        SELECT coalesce(json_agg(to_json(r) ORDER BY r.agent_id, r.provider, r.model), '[]')::text
          FROM (SELECT g.agent_id, g.provider, g.model, g.input_tokens, g.output_tokens,
                       g.cache_read_tokens, g.cache_write_tokens, g.cost_usd_ticks,
                       g.uncosted_input_tokens, g.uncosted_output_tokens,
                       g.uncosted_cache_read_tokens, g.uncosted_cache_write_tokens,
                       g.estimated_cost_usd_ticks, g.total_cost_usd_ticks, g.unpriced_tokens,
                       g.task_count
                  FROM gateway.usage_groups(p_runtime, p_workspace, p_project, p_days, p_tz, p_raw,
                                            'agent') g) r);
END
$$;
COMMENT ON FUNCTION gateway.usage_by_agent(uuid, uuid, uuid, integer, text, boolean) IS
    'A runtime''s or workspace''s usage by agent, provider and model over p_days days, as JSON rows.';
