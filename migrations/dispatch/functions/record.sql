-- Logs an applied change of t (already updated) and describes it for the event.
CREATE OR REPLACE FUNCTION dispatch.record(t dispatch.agent_task_queue, p_from text, p_event text,
                                p_reason text, p_old_runtime uuid DEFAULT NULL,
                                p_seq bigint DEFAULT NULL, p_text text DEFAULT NULL)
RETURNS dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    c dispatch.task_change;
    v_at timestamptz := clock_timestamp();
    v_status text := CASE WHEN p_event = 'deleted' THEN 'deleted' ELSE t.status END;
BEGIN
    INSERT INTO dispatch.task_transitions (task_id, from_status, to_status, event, version,
                                           runtime_id, old_runtime_id, reason, at)
    VALUES (t.task_id, p_from, v_status, p_event, t.version, t.runtime_id, p_old_runtime,
            p_reason, v_at);
    c.outcome := 'applied';
    c.event := p_event;
    c.task_id := t.task_id;
    c.workspace_id := t.workspace_id;
    c.agent_id := t.agent_id;
    c.runtime_id := t.runtime_id;
    c.issue_id := t.issue_id;
    c.version := t.version;
    c.status := v_status;
    c.from_status := p_from;
    c.attempt := t.attempt;
    IF p_event = 'dispatched' THEN
        c.lease_until := dispatch.rfc3339(t.lease_until);
        c.waited_ms := extract(epoch FROM t.dispatched_at - t.queued_at) * 1000;
    END IF;
    c.seq := p_seq;
    c.text := p_text;
    IF p_event = 'completed' THEN
        c.result := t.result;
    END IF;
    c.reason := p_reason;
    c.old_runtime_id := p_old_runtime;
    c.at := dispatch.rfc3339(v_at);
    RETURN c;
END $$;
COMMENT ON FUNCTION dispatch.record(dispatch.agent_task_queue, text, text, text, uuid, bigint, text) IS
    'Logs an applied change in task_transitions and returns it as a task_change row.';
