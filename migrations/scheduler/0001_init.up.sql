-- The scheduler slice: sys_cron_executions, the audit and claim table of the in-process
-- scheduler. Owned by multica_scheduler.
COMMENT ON SCHEMA scheduler IS 'rollup-scheduler slice: sys_cron_executions';
REVOKE ALL ON SCHEMA scheduler FROM PUBLIC;
