-- How many hourly buckets the rollup leaves out because their sums do not fit (see
-- usage.rollup_quarantine); the scheduler records it with each run and exports it.
CREATE OR REPLACE FUNCTION usage.rollup_quarantined()
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT count(*)::integer FROM usage.rollup_quarantine
$$;
COMMENT ON FUNCTION usage.rollup_quarantined() IS
    'Buckets in usage.rollup_quarantine: left out of task_usage_hourly because a sum does not fit a bigint.';
REVOKE ALL ON FUNCTION usage.rollup_quarantined() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.rollup_quarantined() TO multica_scheduler;
