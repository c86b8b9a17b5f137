CREATE OR REPLACE FUNCTION usage.ack_hourly_changes(p_upto bigint)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    WITH d AS (DELETE FROM usage.hourly_outbox WHERE seq <= p_upto RETURNING 1)
    SELECT count(*)::integer FROM d
$$;
COMMENT ON FUNCTION usage.ack_hourly_changes(bigint) IS 'Removes published bucket changes up to seq p_upto.';
REVOKE ALL ON FUNCTION usage.ack_hourly_changes(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.ack_hourly_changes(bigint) TO multica_scheduler;
