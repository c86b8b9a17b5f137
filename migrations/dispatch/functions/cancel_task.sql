-- TaskCancelRequested: cancels an unfinished task; with p_delete also marks it deleted (a
-- terminal task too), which emits TaskDeleted with the next version.
CREATE OR REPLACE FUNCTION dispatch.cancel_task(p_task uuid, p_reason text, p_delete boolean)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, NULL, 'cancelled');
    IF r.outcome IS NULL THEN
        r := dispatch.terminate(t, 'cancelled', coalesce(p_reason, 'cancel_requested'), NULL);
        RETURN NEXT r;
        SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task;
    ELSIF p_delete AND r.reason = 'illegal_transition' THEN
        NULL; -- a finished task can still be deleted
    ELSIF p_delete AND r.reason = 'deleted' THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'deleted', 'duplicate');
        RETURN;
    ELSE
        RETURN NEXT r;
        RETURN;
    END IF;
    IF p_delete THEN
        UPDATE dispatch.agent_task_queue
           SET version = version + 1, deleted_at = v_now, updated_at = v_now
         WHERE task_id = p_task
        RETURNING * INTO t;
        RETURN NEXT dispatch.record(t, t.status, 'deleted', coalesce(p_reason, 'deleted'));
    END IF;
END $$;
COMMENT ON FUNCTION dispatch.cancel_task(uuid, text, boolean) IS
    'TaskCancelRequested: queued/dispatched/running -> cancelled; with p_delete the task is also marked deleted (TaskDeleted), even when it had finished.';
