CREATE OR REPLACE FUNCTION usage.task_usage_rollup_lag_seconds()
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT extract(epoch FROM now() - last_run_finished_at)::double precision FROM usage.rollup_state
$$;
COMMENT ON FUNCTION usage.task_usage_rollup_lag_seconds() IS
    'Seconds since the last finished rollup run (NULL if it never ran), for monitoring.';
REVOKE ALL ON FUNCTION usage.task_usage_rollup_lag_seconds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.task_usage_rollup_lag_seconds() TO multica_scheduler;
GRANT EXECUTE ON FUNCTION usage.task_usage_rollup_lag_seconds() TO multica_gateway;
