-- The scheduled entry point. Returns at once (0) when another caller holds lock 4246. The
-- window runs from the watermark to now() - 5 minutes (at most one day per call, so a long
-- idle install catches up in steps), then the watermark advances and the queue entries
-- enqueued before the window's end are drained: an invalidation that arrives during the run
-- has a later enqueued_at and survives for the next run. On error nothing is changed and the
-- error reaches the caller (the scheduler records it in sys_cron_executions).
-- The 5-minute safety lag covers rows committed late by long transactions; the setting
-- multica.rollup_safety_lag (an interval) overrides it, for tests that cannot wait.
CREATE OR REPLACE FUNCTION usage.rollup_task_usage_hourly()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    wm timestamptz;
    upto timestamptz;
    lag interval := coalesce(nullif(current_setting('multica.rollup_safety_lag', true), '')::interval,
                             interval '5 minutes');
    n integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(4246) THEN
        RETURN 0;
    END IF;
    SELECT watermark INTO wm FROM usage.rollup_state FOR UPDATE;
    IF wm IS NULL THEN
        wm := coalesce((SELECT min(updated_at) FROM usage.task_usage), now() - lag);
    END IF;
    upto := greatest(wm, least(now() - lag, wm + interval '1 day'));
    UPDATE usage.rollup_state SET last_run_started_at = now();
    n := usage.rollup_task_usage_hourly_window(wm, upto);
    DELETE FROM usage.task_usage_dirty WHERE enqueued_at < upto;
    DELETE FROM usage.task_usage_dirty WHERE enqueued_at < now() - interval '7 days';
    DELETE FROM usage.hourly_outbox WHERE created_at < now() - interval '7 days';
    UPDATE usage.rollup_state
       SET watermark = upto, last_run_finished_at = clock_timestamp(), last_changed = n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.rollup_task_usage_hourly() IS
    'Scheduled rollup (every 5 minutes by the in-process scheduler or an external cron): advisory lock 4246, window watermark..now()-5min (max 1 day), watermark advance, queue drain. Returns buckets changed.';
REVOKE ALL ON FUNCTION usage.rollup_task_usage_hourly() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.rollup_task_usage_hourly() TO multica_scheduler;
