-- The price catalogue as it applies to the given (workspace, provider, model) keys: for each
-- key, the time segments [valid_from, valid_until) over which one entry is in force, with its
-- rates. The entry in force at a time is the workspace's override if one has started, else
-- the default; an exact provider before '*'; the latest effective_from not after that time.
-- It can change only where some candidate entry starts, so each segment runs from one such
-- start to the next. Rows are priced by joining them to their key's segment by created_at:
-- one lookup per key and query, where a lookup per row cost about 45 us (the model name's
-- key, a sorted probe) and made pricing the rollup's largest cost. Before a key's first
-- segment, a row has no price.
CREATE OR REPLACE FUNCTION usage.price_segments(p_workspace uuid[], p_provider text[],
                                                p_model text[])
RETURNS TABLE (workspace_id uuid, provider text, model text, valid_from timestamptz,
               valid_until timestamptz, input_ticks_per_mtok bigint, output_ticks_per_mtok bigint,
               cache_read_ticks_per_mtok bigint, cache_write_ticks_per_mtok bigint)
LANGUAGE sql STABLE AS $$
    WITH k AS (
        SELECT DISTINCT w, p, m, usage.model_key(m) AS mk
          FROM unnest(p_workspace, p_provider, p_model) AS k(w, p, m)
    ), cand AS (
        SELECT k.w, k.p, k.m, e.*
          FROM k JOIN usage.model_prices e
            ON e.model = k.mk AND e.provider IN (k.p, '*')
           AND (e.workspace_id IS NULL OR e.workspace_id = k.w)
    ), starts AS (
        SELECT DISTINCT w, p, m, effective_from AS at FROM cand
    )
    SELECT s.w, s.p, s.m, s.at,
           lead(s.at) OVER (PARTITION BY s.w, s.p, s.m ORDER BY s.at),
           best.input_ticks_per_mtok, best.output_ticks_per_mtok, best.cache_read_ticks_per_mtok,
           best.cache_write_ticks_per_mtok
      FROM starts s
      CROSS JOIN LATERAL (
            SELECT c.input_ticks_per_mtok, c.output_ticks_per_mtok, c.cache_read_ticks_per_mtok,
                   c.cache_write_ticks_per_mtok
              FROM cand c
             WHERE (c.w, c.p, c.m) = (s.w, s.p, s.m) AND c.effective_from <= s.at
             ORDER BY c.workspace_id IS NULL, c.provider = '*', c.effective_from DESC
             LIMIT 1) best
$$;
COMMENT ON FUNCTION usage.price_segments(uuid[], text[], text[]) IS
    'For each (workspace, provider, model) key, the segments of time over which one price catalogue entry is in force, with its rates.';
GRANT EXECUTE ON FUNCTION usage.price_segments(uuid[], text[], text[]) TO multica_gateway;
