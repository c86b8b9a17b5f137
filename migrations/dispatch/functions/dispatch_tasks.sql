-- dispatch_round with the default aging (DISPATCH_AGING_INTERVAL's 5 minutes) and no
-- workspace cap: the three-argument call operators make from psql.
CREATE OR REPLACE FUNCTION dispatch.dispatch_tasks(p_lease interval, p_online_window interval,
                                        p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE sql AS $$
    SELECT * FROM dispatch.dispatch_round(p_lease, p_online_window, p_limit, interval '5 minutes', 0)
$$;
COMMENT ON FUNCTION dispatch.dispatch_tasks(interval, interval, integer) IS
    'dispatch_round with 5 minutes of aging per priority level and no workspace cap.';
