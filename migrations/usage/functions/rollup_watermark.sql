CREATE OR REPLACE FUNCTION usage.rollup_watermark()
RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT watermark FROM usage.rollup_state
$$;
COMMENT ON FUNCTION usage.rollup_watermark() IS 'The rollup watermark (NULL before the first run).';
REVOKE ALL ON FUNCTION usage.rollup_watermark() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.rollup_watermark() TO multica_scheduler;
