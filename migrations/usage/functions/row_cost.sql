-- The cost of one usage row, in parts that add up the way Multica's reads present them, given
-- the rates of the price catalogue entry in force when it was created (NULL when none is;
-- usage.price_segments finds them): what the daemon reported (cost_usd_ticks), the tokens it
-- did not price (uncosted_*), the catalogue's price for those tokens, and the tokens nothing
-- could price. Each row is rounded to whole ticks once, so every view that sums rows (the
-- rollup's buckets, the raw reads) sums the same integers. It is plain arithmetic declared as
-- a table of one row: Postgres inlines a SQL table function into the query that calls it in
-- FROM (a function with OUT parameters it calls once per row instead, which cost about 9 us a
-- row).
CREATE OR REPLACE FUNCTION usage.row_cost(
    p_input bigint, p_output bigint, p_cache_read bigint, p_cache_write bigint,
    p_reported bigint, r_input bigint, r_output bigint, r_cache_read bigint, r_cache_write bigint)
RETURNS TABLE (cost_usd_ticks bigint, uncosted_input_tokens bigint,
               uncosted_output_tokens bigint, uncosted_cache_read_tokens bigint,
               uncosted_cache_write_tokens bigint, estimated_cost_usd_ticks bigint,
               unpriced_tokens bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_reported, 0),
           CASE WHEN p_reported IS NULL THEN p_input ELSE 0 END,
           CASE WHEN p_reported IS NULL THEN p_output ELSE 0 END,
           CASE WHEN p_reported IS NULL THEN p_cache_read ELSE 0 END,
           CASE WHEN p_reported IS NULL THEN p_cache_write ELSE 0 END,
           CASE WHEN p_reported IS NULL AND r_input IS NOT NULL
                THEN round((p_input::numeric * r_input + p_output::numeric * r_output
                            + p_cache_read::numeric * r_cache_read
                            + p_cache_write::numeric * r_cache_write) / 1000000)::bigint
                ELSE 0 END,
           CASE WHEN p_reported IS NULL AND r_input IS NULL
                THEN p_input + p_output + p_cache_read + p_cache_write ELSE 0 END
$$;
COMMENT ON FUNCTION usage.row_cost(bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint,
                                   bigint) IS
    'One usage row''s cost given the rates in force at its time: reported ticks, uncosted tokens, the catalogue''s estimate (rounded once per row) and unpriced tokens.';
GRANT EXECUTE ON FUNCTION usage.row_cost(bigint, bigint, bigint, bigint, bigint, bigint, bigint,
                                         bigint, bigint) TO multica_gateway;
