-- Timer: a task queued for longer than p_ttl is cancelled with reason expired.
CREATE OR REPLACE FUNCTION dispatch.expire_queued(p_ttl interval, p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
BEGIN
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE status = 'queued' AND queued_at < clock_timestamp() - p_ttl
         ORDER BY queued_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        RETURN NEXT dispatch.terminate(t, 'cancelled', 'expired', NULL);
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.expire_queued(interval, integer) IS
    'Cancels (reason expired) tasks that waited in the queue longer than p_ttl.';
