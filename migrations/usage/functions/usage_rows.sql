-- The usage rows a read sums: those of a runtime or a workspace (p_runtime or p_workspace;
-- p_project, when given, keeps one project's) from local midnight p_days days before today in
-- p_tz. From the rollup (usage.usage_rollup_rows; p_hourly for hour-of-day reads), except the
-- hours it has not reached (usage.usage_fresh_hours), which come from task_usage as they are
-- now: a read shows usage as soon as the ingester commits it, at O(daily rows + the rows of
-- those hours). A runtime's read (no workspace given) takes whole only the hours
-- usage.usage_runtime_fresh_hours names and adds to the other buckets its changes the rollup
-- has not folded (usage.usage_delta_rows): O(daily rows + its changes since the last fold).
-- Or all from task_usage (p_raw, usage.usage_raw_rows, for verification).
-- Groups of these rows may add up to nothing (a bucket taken out whose rows went): readers
-- drop groups without a task. PL/pgSQL so that the window's start, the watermark and the hours
-- reach the planner as values (the recent rows are then found by their index, a runtime's or
-- workspace's rows by theirs), and so that the task_usage query is planned only when needed;
-- these with the values (a plan for any watermark would read every row). The rollup's part is
-- the exception: written so that one generic plan serves every read, it is planned once per
-- connection (1.5 ms a read before).
-- The rollup's part runs without JIT (the raw reads keep the caller's setting): the estimate
-- for the rows of the hours not rolled up (thousands an hour) cleared jit_above_cost and
-- spent 3 s compiling a read that runs in a few ms. set_config rather than a SET clause, so
-- that ?source=raw is planned as it always was; the caller's value is put back.
CREATE OR REPLACE FUNCTION usage.usage_rows(p_runtime uuid, p_workspace uuid, p_project uuid,
                                            p_days integer, p_tz text, p_raw boolean,
                                            p_hourly boolean)
RETURNS SETOF usage.usage_row
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    since timestamptz := ((now() AT TIME ZONE p_tz)::date - p_days)::timestamp AT TIME ZONE p_tz;
    wm timestamptz;
    hours timestamptz[];
    caller_jit text := current_setting('jit');
BEGIN
    IF p_raw THEN
        RETURN QUERY SELECT * FROM usage.usage_raw_rows(p_runtime, p_workspace, p_project, since,
                                                        NULL, p_tz);
        RETURN;
    END IF;
    PERFORM set_config('jit', 'off', true);
    SELECT s.watermark INTO wm FROM usage.rollup_state s;
    -- A runtime's: the hours it takes whole, the others corrected by its logged changes
    -- (usage.usage_delta_rows, added below); a workspace's: every hour past the watermark.
    IF p_runtime IS NOT NULL AND p_workspace IS NULL THEN
        SELECT array_agg(f.h) INTO hours
          FROM usage.usage_runtime_fresh_hours(p_runtime, since, wm) AS f(h);
    ELSE
        SELECT array_agg(f.h) INTO hours
          FROM usage.usage_fresh_hours(p_runtime, p_workspace, since, wm) AS f(h);
    END IF;
    -- One plan for every scope and window (see usage_rollup_rows): planned once per
    -- connection, not per read.
    PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
    RETURN QUERY SELECT * FROM usage.usage_rollup_rows(p_runtime, p_workspace, p_project, since,
                                                       p_tz, p_hourly, hours);
    PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    IF p_runtime IS NOT NULL AND p_workspace IS NULL THEN
        RETURN QUERY SELECT * FROM usage.usage_delta_rows(p_runtime, p_project, since, hours,
                                                          p_tz);
    END IF;
    IF hours IS NOT NULL THEN
        RETURN QUERY SELECT * FROM usage.usage_raw_rows(p_runtime, p_workspace, p_project, NULL,
                                                        hours, p_tz);
    END IF;
    PERFORM set_config('jit', caller_jit, true);
END
$$;
COMMENT ON FUNCTION usage.usage_rows(uuid, uuid, uuid, integer, text, boolean, boolean) IS
    'The usage rows of a runtime or workspace (and project) over the last p_days days in p_tz, from the rollup and the rows it has not reached, or (p_raw) from task_usage alone.';
GRANT EXECUTE ON FUNCTION usage.usage_rows(uuid, uuid, uuid, integer, text, boolean, boolean)
    TO multica_gateway;
