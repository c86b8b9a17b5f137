-- Moves a locked task to a terminal status: p_event is completed, failed or cancelled.
CREATE OR REPLACE FUNCTION dispatch.terminate(t dispatch.agent_task_queue, p_event text, p_reason text,
                                   p_result text)
RETURNS dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    v_from text := t.status;
    v_now timestamptz := clock_timestamp();
BEGIN
    UPDATE dispatch.agent_task_queue
       SET status = p_event, version = version + 1, completed_at = v_now, lease_until = NULL,
           result = p_result, failure_reason = p_reason, wait_reason = NULL,
           updated_at = v_now
     WHERE task_id = t.task_id
    RETURNING * INTO t;
    RETURN dispatch.record(t, v_from, p_event, p_reason);
END $$;
COMMENT ON FUNCTION dispatch.terminate(dispatch.agent_task_queue, text, text, text) IS
    'Completes, fails or cancels a locked task, setting completed_at, and logs it.';
