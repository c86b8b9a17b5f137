-- RuntimeOffline: the runtime is gone; its dispatched (not yet started) tasks are requeued.
-- Running tasks stay: the daemon may still report them, and RUNNING_TIMEOUT reclaims them if not.
CREATE OR REPLACE FUNCTION dispatch.runtime_offline(p_runtime uuid, p_workspace uuid, p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    v_at timestamptz := least(p_at, clock_timestamp());
BEGIN
    INSERT INTO dispatch.runtimes AS r (runtime_id, workspace_id, max_concurrency, last_seen_at,
                                        offline_at, last_event_at)
    VALUES (p_runtime, p_workspace, 1, v_at, v_at, p_at)
    ON CONFLICT (runtime_id) DO UPDATE SET
        offline_at = EXCLUDED.offline_at, last_event_at = EXCLUDED.last_event_at,
        updated_at = now()
    WHERE r.last_event_at <= EXCLUDED.last_event_at;
    IF NOT FOUND THEN
        RETURN; -- an event older than the newest applied one
    END IF;
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE runtime_id = p_runtime AND status = 'dispatched'
         ORDER BY created_at, task_id
           FOR UPDATE
    LOOP
        RETURN NEXT dispatch.requeue(t, 'runtime_offline');
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.runtime_offline(uuid, uuid, timestamptz) IS
    'RuntimeOffline: marks the runtime offline and requeues its dispatched tasks.';
