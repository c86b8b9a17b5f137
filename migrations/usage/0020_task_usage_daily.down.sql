-- The daily level and the gateway's reads of the rollup's state go; the next up applies every
-- function file again.
REVOKE SELECT ON usage.rollup_state, usage.task_usage_dirty FROM multica_gateway;
DROP FUNCTION IF EXISTS usage.task_usage_hourly_to_daily() CASCADE;
DROP FUNCTION IF EXISTS usage.sync_task_usage_daily(uuid[], uuid[], uuid[], text[], text[], uuid[],
                                                    date[]);
DROP FUNCTION IF EXISTS usage.usage_rows(uuid, uuid, uuid, integer, text, boolean, boolean);
DROP FUNCTION IF EXISTS usage.usage_rollup_rows(uuid, uuid, uuid, timestamptz, text, boolean,
                                                timestamptz[]);
DROP FUNCTION IF EXISTS usage.usage_fresh_hours(uuid, uuid, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS usage.usage_raw_rows(uuid, uuid, uuid, timestamptz, timestamptz[], text);
DROP TABLE usage.task_usage_daily;
DROP TYPE IF EXISTS usage.usage_row;
