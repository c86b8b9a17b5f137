-- Checks that the task exists, is not deleted, is held by p_runtime (when given) and that
-- the state machine allows p_event from its status. NULL when it may proceed.
CREATE OR REPLACE FUNCTION dispatch.check_move(t dispatch.agent_task_queue, p_task uuid, p_runtime uuid,
                                    p_event text)
RETURNS dispatch.task_change LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF t.task_id IS NULL THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'unknown_task');
    END IF;
    IF t.deleted_at IS NOT NULL THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'deleted');
    END IF;
    IF p_runtime IS NOT NULL AND t.runtime_id <> p_runtime THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'runtime_mismatch');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dispatch.state_machine m
                    WHERE m.from_status = t.status AND m.event = p_event) THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'illegal_transition');
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION dispatch.check_move(dispatch.agent_task_queue, uuid, uuid, text) IS
    'NULL when the move is allowed, else the refusal (unknown_task, deleted, runtime_mismatch, illegal_transition).';
