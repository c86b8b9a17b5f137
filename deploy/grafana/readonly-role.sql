-- readonly-role.sql: the read-only login Grafana uses (run by an administrator with psql,
-- after multica-migrate; idempotent). It may read the hourly rollup, the rollup state, the
-- scheduler's execution log and the lag helper, and nothing else.
--
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v role=multica_grafana -v password=SECRET -f readonly-role.sql

SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'role') \gexec

SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'password') \gexec
-- Even a query typed into Grafana cannot write.
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', :'role') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'role') \gexec
SELECT format('GRANT USAGE ON SCHEMA usage, scheduler TO %I', :'role') \gexec
SELECT format('GRANT SELECT ON usage.task_usage_hourly, usage.rollup_state TO %I', :'role') \gexec
SELECT format('GRANT SELECT ON scheduler.sys_cron_executions TO %I', :'role') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION usage.task_usage_rollup_lag_seconds() TO %I', :'role') \gexec
