-- TaskProgressReported: a running task's progress; a sequence number already seen is a no-op.
CREATE OR REPLACE FUNCTION dispatch.report_progress(p_task uuid, p_runtime uuid, p_seq bigint, p_text text)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, p_runtime, 'progress');
    IF r.outcome IS NOT NULL THEN
        RETURN NEXT r;
        RETURN;
    END IF;
    IF t.last_progress_seq IS NOT NULL AND p_seq <= t.last_progress_seq THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'progress', 'duplicate');
        RETURN;
    END IF;
    UPDATE dispatch.agent_task_queue
       SET version = version + 1, last_progress_seq = p_seq, last_progress_at = v_now,
           updated_at = v_now
     WHERE task_id = p_task
    RETURNING * INTO t;
    RETURN NEXT dispatch.record(t, 'running', 'progress', NULL, NULL, p_seq, p_text);
END $$;
COMMENT ON FUNCTION dispatch.report_progress(uuid, uuid, bigint, text) IS
    'TaskProgressReported: records progress of a running task held by p_runtime; seq at or below the last one is a no-op.';
