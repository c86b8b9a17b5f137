-- The scheduled entry point. Returns at once (0) when another caller holds lock 4246. It
-- folds every change of task_usage logged since the last run (usage.rollup_fold_deltas: the
-- cost grows with the changed rows, wherever in history they fall), then recomputes the
-- buckets queued before the window's end (moves, deletions, prices, late attribution), and
-- the watermark advances to now() - 5 minutes (at most one day per call, as before; rows
-- written with an updated_at before it are taken as history already rolled up, see
-- usage.task_usage_log_delta). Queue entries enqueued during the run have a later
-- enqueued_at and survive for the next run. On error nothing is changed and the error
-- reaches the caller (the scheduler records it in sys_cron_executions).
-- The 5-minute safety lag covers invalidations committed late by long transactions; the
-- setting multica.rollup_safety_lag (an interval) overrides it, for tests that cannot wait.
-- Logged changes need no lag: the fold takes exactly those committed before it.
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
        -- The first run: every change so far was logged (the trigger logs every row while
        -- there is no watermark) and is folded below, so the watermark starts
        -- at the run's own end (before migration 0028: at the oldest updated_at, read
        -- through an index that is gone, to advance by a day a run from there).
        wm := now() - lag;
    END IF;
    upto := greatest(wm, least(now() - lag, wm + interval '1 day'));
    UPDATE usage.rollup_state SET last_run_started_at = now();
    -- The changes logged since the last run, then the queued buckets (moves, deletions,
    -- prices, late attribution, what the fold could not add): the window [upto, upto) holds
    -- no updated rows, so only the queue is recomputed. Every row change is logged, so the
    -- hours of the changed rows are never re-read.
    n := usage.rollup_fold_deltas();
    n := n + usage.rollup_task_usage_hourly_window(upto, upto);
    DELETE FROM usage.task_usage_dirty WHERE enqueued_at < upto;
    DELETE FROM usage.task_usage_dirty WHERE enqueued_at < now() - interval '7 days';
    DELETE FROM usage.hourly_outbox WHERE created_at < now() - interval '7 days';
    UPDATE usage.rollup_state
       SET watermark = upto, last_run_finished_at = clock_timestamp(), last_changed = n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.rollup_task_usage_hourly() IS
    'Scheduled rollup (every 5 minutes by the in-process scheduler or an external cron): advisory lock 4246, fold of the logged row changes, recompute of the buckets queued before now()-5min, watermark advance (max 1 day), queue drain. Returns buckets changed.';
REVOKE ALL ON FUNCTION usage.rollup_task_usage_hourly() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.rollup_task_usage_hourly() TO multica_scheduler;
