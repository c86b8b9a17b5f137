CREATE OR REPLACE FUNCTION scheduler.heartbeat(p_id bigint, p_lease uuid, p_extend interval)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (
        UPDATE scheduler.sys_cron_executions SET stale_after = now() + p_extend
         WHERE id = p_id AND lease_token = p_lease AND status = 'RUNNING'
        RETURNING 1)
    SELECT count(*) = 1 FROM u
$$;
COMMENT ON FUNCTION scheduler.heartbeat(bigint, uuid, interval) IS
    'Extends a running attempt''s lease; false when the attempt is no longer ours.';
