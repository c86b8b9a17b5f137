-- TaskCompletionReported / TaskFailureReported: running -> completed | failed, and
-- dispatched -> failed (a daemon fails a task it claimed and could not start).
CREATE OR REPLACE FUNCTION dispatch.finish_task(p_task uuid, p_runtime uuid, p_event text, p_result text,
                                     p_reason text)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
BEGIN
    IF p_event NOT IN ('completed', 'failed') THEN
        RAISE EXCEPTION 'finish_task: event must be completed or failed, got %', p_event;
    END IF;
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, p_runtime, p_event);
    IF r.outcome IS NOT NULL THEN
        RETURN NEXT r;
        RETURN;
    END IF;
    RETURN NEXT dispatch.terminate(t, p_event, p_reason, p_result);
END $$;
COMMENT ON FUNCTION dispatch.finish_task(uuid, uuid, text, text, text) IS
    'TaskCompletionReported (completed, with result) or TaskFailureReported (failed, with reason, also before the start) from the runtime holding the task.';
