-- The cost of one usage row, in parts that add up the way Multica's reads present them: what
-- the daemon reported (cost_usd_ticks), the tokens it did not price (uncosted_*), the
-- catalogue's price for those tokens at the rates in force when the row was created, and the
-- tokens nothing could price. The catalogue entry is the workspace's override if it has one
-- in force, else the default; an exact provider before '*'; the latest effective_from not
-- after the row's created_at. Each row is rounded to whole ticks once, so every view that
-- sums rows (the rollup's buckets, the raw reads) sums the same integers.
CREATE OR REPLACE FUNCTION usage.row_cost(
    p_workspace uuid, p_provider text, p_model text, p_at timestamptz,
    p_input bigint, p_output bigint, p_cache_read bigint, p_cache_write bigint,
    p_reported bigint,
    OUT cost_usd_ticks bigint, OUT uncosted_input_tokens bigint,
    OUT uncosted_output_tokens bigint, OUT uncosted_cache_read_tokens bigint,
    OUT uncosted_cache_write_tokens bigint, OUT estimated_cost_usd_ticks bigint,
    OUT unpriced_tokens bigint)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_reported, 0),
           CASE WHEN p_reported IS NULL THEN p_input ELSE 0 END,
           CASE WHEN p_reported IS NULL THEN p_output ELSE 0 END,
           CASE WHEN p_reported IS NULL THEN p_cache_read ELSE 0 END,
           CASE WHEN p_reported IS NULL THEN p_cache_write ELSE 0 END,
           CASE WHEN p_reported IS NULL AND r.input_ticks_per_mtok IS NOT NULL
                THEN round((p_input::numeric * r.input_ticks_per_mtok
                            + p_output::numeric * r.output_ticks_per_mtok
                            + p_cache_read::numeric * r.cache_read_ticks_per_mtok
                            + p_cache_write::numeric * r.cache_write_ticks_per_mtok) / 1000000)::bigint
                ELSE 0 END,
           CASE WHEN p_reported IS NULL AND r.input_ticks_per_mtok IS NULL
                THEN p_input + p_output + p_cache_read + p_cache_write ELSE 0 END
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (
            SELECT p.input_ticks_per_mtok, p.output_ticks_per_mtok, p.cache_read_ticks_per_mtok,
                   p.cache_write_ticks_per_mtok
              FROM usage.model_prices p
             WHERE p.model = usage.model_key(p_model)
               AND p.provider IN (p_provider, '*')
               AND (p.workspace_id IS NULL OR p.workspace_id = p_workspace)
               AND p.effective_from <= p_at
             ORDER BY p.workspace_id IS NULL, p.provider = '*', p.effective_from DESC
             LIMIT 1) r ON true
$$;
COMMENT ON FUNCTION usage.row_cost(uuid, text, text, timestamptz, bigint, bigint, bigint, bigint,
                                   bigint) IS
    'One usage row''s cost: reported ticks, uncosted tokens, the catalogue''s estimate (rates in force at the row''s time, rounded once per row) and unpriced tokens.';
GRANT EXECUTE ON FUNCTION usage.row_cost(uuid, text, text, timestamptz, bigint, bigint, bigint,
                                         bigint, bigint) TO multica_gateway;
