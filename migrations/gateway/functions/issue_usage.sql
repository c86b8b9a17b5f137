-- GET /api/issues/{id}/usage: Multica's GetIssueUsageSummary, the totals of every task of the
-- issue, all time, from task_usage (each row priced as the rollup prices its buckets).
CREATE OR REPLACE FUNCTION gateway.issue_usage(p_issue uuid)
RETURNS text
LANGUAGE sql STABLE AS $$
    WITH rows AS (
        SELECT a.workspace_id, u.*
          FROM usage.task_attribution a
          JOIN usage.task_usage u ON u.task_id = a.task_id
         WHERE a.issue_id = p_issue AND a.deleted_at IS NULL
    ), seg AS (
        SELECT s.*
          FROM (SELECT array_agg(workspace_id) AS w, array_agg(provider) AS p,
                       array_agg(model) AS m
                  FROM (SELECT DISTINCT workspace_id, provider, model FROM rows) d) k
         CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s
    )
    SELECT json_build_object(
               'total_input_tokens', coalesce(sum(r.input_tokens), 0),
               'total_output_tokens', coalesce(sum(r.output_tokens), 0),
               'total_cache_read_tokens', coalesce(sum(r.cache_read_tokens), 0),
               'total_cache_write_tokens', coalesce(sum(r.cache_write_tokens), 0),
               'cost_usd_ticks', coalesce(sum(c.cost_usd_ticks), 0),
               'uncosted_input_tokens', coalesce(sum(c.uncosted_input_tokens), 0),
               'uncosted_output_tokens', coalesce(sum(c.uncosted_output_tokens), 0),
               'uncosted_cache_read_tokens', coalesce(sum(c.uncosted_cache_read_tokens), 0),
               'uncosted_cache_write_tokens', coalesce(sum(c.uncosted_cache_write_tokens), 0),
               'estimated_cost_usd_ticks', coalesce(sum(c.estimated_cost_usd_ticks), 0),
               'total_cost_usd_ticks',
               coalesce(sum(c.cost_usd_ticks::numeric + c.estimated_cost_usd_ticks), 0),
               'unpriced_tokens', coalesce(sum(c.unpriced_tokens), 0),
               'task_count', count(DISTINCT r.task_id))::text
      FROM rows r
      LEFT JOIN seg s
        ON s.workspace_id = r.workspace_id AND s.provider = r.provider AND s.model = r.model
       AND r.created_at >= s.valid_from AND (s.valid_until IS NULL OR r.created_at < s.valid_until)
     CROSS JOIN LATERAL usage.row_cost(r.input_tokens, r.output_tokens, r.cache_read_tokens,
                                       r.cache_write_tokens, r.cost_usd_ticks,
                                       s.input_ticks_per_mtok, s.output_ticks_per_mtok,
                                       s.cache_read_ticks_per_mtok,
                                       s.cache_write_ticks_per_mtok) c
$$;
COMMENT ON FUNCTION gateway.issue_usage(uuid) IS
    'An issue''s usage totals over all its tasks, all time, tokens and cost, as a JSON object.';
