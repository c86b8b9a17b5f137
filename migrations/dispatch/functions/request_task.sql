-- TaskRequested: a new task joins the queue (a known task id changes nothing).
CREATE OR REPLACE FUNCTION dispatch.request_task(p_task uuid, p_workspace uuid, p_agent uuid,
                                      p_runtime uuid, p_issue uuid, p_title text,
                                      p_priority integer, p_agent_max integer,
                                      p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    a dispatch.agents;
    t dispatch.agent_task_queue;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task;
    IF FOUND THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'queued', 'duplicate');
        RETURN;
    END IF;
    a := dispatch.upsert_agent(p_agent, p_workspace, p_runtime, p_agent_max, p_at);
    -- The task follows the agent: its runtime is the agent's newest, which may come from a
    -- later AgentRuntimeChanged consumed first.
    INSERT INTO dispatch.agent_task_queue (task_id, workspace_id, agent_id, runtime_id, issue_id,
                                           status, version, attempt, priority, title, queued_at,
                                           created_at, updated_at)
    VALUES (p_task, a.workspace_id, p_agent, a.runtime_id, p_issue, 'queued', 1, 1,
            coalesce(p_priority, 0), p_title, v_now, v_now, v_now)
    ON CONFLICT (task_id) DO NOTHING
    RETURNING * INTO t;
    IF NOT FOUND THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'queued', 'duplicate');
        RETURN;
    END IF;
    RETURN NEXT dispatch.record(t, NULL, 'queued', NULL);
END $$;
COMMENT ON FUNCTION dispatch.request_task(uuid, uuid, uuid, uuid, uuid, text, integer, integer, timestamptz) IS
    'TaskRequested: inserts the task as queued (version 1) and records the agent; a known task id is a no-op.';
