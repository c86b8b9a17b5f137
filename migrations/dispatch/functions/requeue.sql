-- Sends a dispatched or running task back to the queue for another attempt.
CREATE OR REPLACE FUNCTION dispatch.requeue(t dispatch.agent_task_queue, p_reason text)
RETURNS dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    v_from text := t.status;
    v_now timestamptz := clock_timestamp();
BEGIN
    UPDATE dispatch.agent_task_queue
       SET status = 'queued', version = version + 1, attempt = attempt + 1, queued_at = v_now,
           lease_until = NULL, started_at = NULL, last_progress_at = NULL,
           last_progress_seq = NULL, wait_reason = NULL, updated_at = v_now
     WHERE task_id = t.task_id
    RETURNING * INTO t;
    RETURN dispatch.record(t, v_from, 'requeued', p_reason);
END $$;
COMMENT ON FUNCTION dispatch.requeue(dispatch.agent_task_queue, text) IS
    'Requeues a locked dispatched or running task (attempt + 1) and logs it.';
