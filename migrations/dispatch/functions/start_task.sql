-- TaskStartReported: dispatched -> running, only from the runtime holding the task.
CREATE OR REPLACE FUNCTION dispatch.start_task(p_task uuid, p_runtime uuid)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, p_runtime, 'started');
    IF r.outcome IS NOT NULL THEN
        RETURN NEXT r;
        RETURN;
    END IF;
    UPDATE dispatch.agent_task_queue
       SET status = 'running', version = version + 1, lease_until = NULL, started_at = v_now,
           last_progress_at = v_now, last_progress_seq = NULL, updated_at = v_now
     WHERE task_id = p_task
    RETURNING * INTO t;
    RETURN NEXT dispatch.record(t, 'dispatched', 'started', NULL);
END $$;
COMMENT ON FUNCTION dispatch.start_task(uuid, uuid) IS
    'TaskStartReported: dispatched -> running; refused unless p_runtime holds the task.';
