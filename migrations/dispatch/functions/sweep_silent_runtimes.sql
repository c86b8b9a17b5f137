-- Timer: a runtime silent past the online window goes offline like on RuntimeOffline.
CREATE OR REPLACE FUNCTION dispatch.sweep_silent_runtimes(p_window interval, p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    rt record;
    t dispatch.agent_task_queue;
BEGIN
    FOR rt IN
        SELECT runtime_id FROM dispatch.runtimes
         WHERE offline_at IS NULL AND last_seen_at < clock_timestamp() - p_window
         ORDER BY last_seen_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE dispatch.runtimes SET offline_at = clock_timestamp(), updated_at = now()
         WHERE runtime_id = rt.runtime_id;
        FOR t IN
            SELECT * FROM dispatch.agent_task_queue
             WHERE runtime_id = rt.runtime_id AND status = 'dispatched'
             ORDER BY created_at, task_id
               FOR UPDATE SKIP LOCKED
        LOOP
            RETURN NEXT dispatch.requeue(t, 'runtime_silent');
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.sweep_silent_runtimes(interval, integer) IS
    'Marks runtimes without a heartbeat for p_window offline and requeues their dispatched tasks.';
