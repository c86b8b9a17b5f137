-- A command the state machine does not accept, or one that changes nothing.
CREATE OR REPLACE FUNCTION dispatch.not_applied(p_outcome text, t dispatch.agent_task_queue, p_task uuid,
                                     p_event text, p_reason text)
RETURNS dispatch.task_change LANGUAGE plpgsql STABLE AS $$
DECLARE
    c dispatch.task_change;
BEGIN
    c.outcome := p_outcome;
    c.event := p_event;
    c.task_id := p_task;
    c.workspace_id := t.workspace_id;
    c.agent_id := t.agent_id;
    c.runtime_id := t.runtime_id;
    c.issue_id := t.issue_id;
    c.version := t.version;
    c.from_status := t.status;
    c.status := CASE WHEN p_event = 'deleted' THEN 'deleted'
                     ELSE coalesce((SELECT min(m.to_status) FROM dispatch.state_machine m
                                     WHERE m.event = p_event), p_event) END;
    c.attempt := t.attempt;
    c.reason := p_reason;
    c.at := dispatch.rfc3339(clock_timestamp());
    RETURN c;
END $$;
COMMENT ON FUNCTION dispatch.not_applied(text, dispatch.agent_task_queue, uuid, text, text) IS
    'Describes a refused command (outcome refused) or a duplicate (outcome noop) for the service to log.';
