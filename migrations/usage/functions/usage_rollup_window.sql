-- The rollup's rows of a runtime from p_since on in p_tz, as if no hour were fresh: what the
-- gateway keeps in memory for the runtime's daily read (usage_daily_cache.c), valid while
-- usage.rollup_revision, read in the same statement, is unchanged. Each read then adds
-- usage.usage_fresh_rows: together, the rows usage.usage_rows gives. Planned as
-- usage.usage_rows plans the rollup's part: one generic plan a connection, no JIT.
CREATE OR REPLACE FUNCTION usage.usage_rollup_window(p_runtime uuid, p_since timestamptz,
                                                     p_tz text)
RETURNS SETOF usage.usage_row
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan SET jit = off AS $$
BEGIN
    RETURN QUERY SELECT * FROM usage.usage_rollup_rows(p_runtime, NULL, NULL, p_since, p_tz,
                                                       false, NULL);
END
$$;
COMMENT ON FUNCTION usage.usage_rollup_window(uuid, timestamptz, text) IS
    'The rollup rows of a runtime from p_since on by date in p_tz with no hour taken out: the part of its daily read the gateway keeps.';
GRANT EXECUTE ON FUNCTION usage.usage_rollup_window(uuid, timestamptz, text) TO multica_gateway;
