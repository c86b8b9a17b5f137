-- The publishing side of the outbox, for the scheduler: read in order, then acknowledge.
CREATE OR REPLACE FUNCTION usage.hourly_changes(p_limit integer)
RETURNS SETOF usage.hourly_outbox
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT * FROM usage.hourly_outbox ORDER BY seq LIMIT p_limit
$$;
COMMENT ON FUNCTION usage.hourly_changes(integer) IS 'The oldest bucket changes not yet published.';
REVOKE ALL ON FUNCTION usage.hourly_changes(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.hourly_changes(integer) TO multica_scheduler;
