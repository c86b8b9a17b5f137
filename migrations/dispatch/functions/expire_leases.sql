-- Timer: a dispatched task whose lease ran out (the runtime never reported the start).
CREATE OR REPLACE FUNCTION dispatch.expire_leases(p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
BEGIN
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE status = 'dispatched' AND lease_until < clock_timestamp()
         ORDER BY lease_until
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        RETURN NEXT dispatch.requeue(t, 'lease_expired');
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.expire_leases(integer) IS
    'Requeues dispatched tasks whose lease expired (no start reported in time).';
