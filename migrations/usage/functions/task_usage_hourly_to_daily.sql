-- Keeps task_usage_daily equal to task_usage_hourly: after each statement that writes the
-- hourly table, the (key, UTC day) pairs it touched are recomputed (usage.sync_task_usage_daily).
-- Statement-level with transition tables, so a rollup tick that changes a thousand buckets
-- recomputes each touched day once, and whatever algorithm writes the hourly table, the
-- level follows. Writers take turns on lock 4247 (the rollup's recomputations already hold
-- it): two transactions recomputing one day from different snapshots would lose a change.
-- Postgres allows transition tables on a trigger of one event only, hence three triggers.
-- This file creates them too (a trigger needs its function, and function files are applied
-- after the numbered migrations), and fills the days the level lacks: all of them the first
-- time, none after.
CREATE OR REPLACE FUNCTION usage.task_usage_hourly_to_daily()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4247);
    IF TG_OP = 'INSERT' THEN
        PERFORM usage.sync_task_usage_daily(array_agg(workspace_id), array_agg(runtime_id),
                    array_agg(agent_id), array_agg(provider), array_agg(model),
                    array_agg(project_id), array_agg((bucket_hour AT TIME ZONE 'UTC')::date))
           FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM usage.sync_task_usage_daily(array_agg(workspace_id), array_agg(runtime_id),
                    array_agg(agent_id), array_agg(provider), array_agg(model),
                    array_agg(project_id), array_agg((bucket_hour AT TIME ZONE 'UTC')::date))
           FROM (SELECT workspace_id, runtime_id, agent_id, provider, model, project_id,
                        bucket_hour FROM new_rows
                 UNION
                 SELECT workspace_id, runtime_id, agent_id, provider, model, project_id,
                        bucket_hour FROM old_rows) c;
    ELSE
        PERFORM usage.sync_task_usage_daily(array_agg(workspace_id), array_agg(runtime_id),
                    array_agg(agent_id), array_agg(provider), array_agg(model),
                    array_agg(project_id), array_agg((bucket_hour AT TIME ZONE 'UTC')::date))
           FROM old_rows;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION usage.task_usage_hourly_to_daily() IS
    'Trigger on task_usage_hourly (after each statement): recomputes the task_usage_daily days the statement touched.';
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_ins AFTER INSERT ON usage.task_usage_hourly
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_upd AFTER UPDATE ON usage.task_usage_hourly
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_del AFTER DELETE ON usage.task_usage_hourly
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
-- The days that have buckets and no daily row: every day when the table was just created.
SELECT usage.sync_task_usage_daily(array_agg(workspace_id), array_agg(runtime_id),
                                   array_agg(agent_id), array_agg(provider), array_agg(model),
                                   array_agg(project_id), array_agg(day))
  FROM (SELECT DISTINCT h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model,
               h.project_id, (h.bucket_hour AT TIME ZONE 'UTC')::date AS day
          FROM usage.task_usage_hourly h
         WHERE NOT EXISTS (
               SELECT 1 FROM usage.task_usage_daily d
                WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
                    = (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model,
                       (h.bucket_hour AT TIME ZONE 'UTC')::date)
                  AND d.project_id IS NOT DISTINCT FROM h.project_id)) k;
