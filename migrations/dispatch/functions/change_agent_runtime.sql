-- AgentRuntimeChanged: the agent's unfinished tasks follow it to its (newest) runtime.
CREATE OR REPLACE FUNCTION dispatch.change_agent_runtime(p_agent uuid, p_workspace uuid, p_runtime uuid,
                                              p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    a dispatch.agents;
    t dispatch.agent_task_queue;
    v_from text;
    v_old uuid;
    v_now timestamptz;
BEGIN
    a := dispatch.upsert_agent(p_agent, p_workspace, p_runtime, NULL, p_at);
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE agent_id = p_agent AND status IN ('queued', 'dispatched', 'running')
           AND runtime_id <> a.runtime_id
         ORDER BY created_at, task_id
           FOR UPDATE
    LOOP
        v_from := t.status;
        v_old := t.runtime_id;
        v_now := clock_timestamp();
        UPDATE dispatch.agent_task_queue
           SET runtime_id = a.runtime_id, workspace_id = a.workspace_id, status = 'queued',
               version = version + 1,
               queued_at = CASE WHEN status = 'queued' THEN queued_at ELSE v_now END,
               lease_until = NULL, started_at = NULL, last_progress_at = NULL,
               last_progress_seq = NULL, wait_reason = NULL, updated_at = v_now
         WHERE task_id = t.task_id
        RETURNING * INTO t;
        RETURN NEXT dispatch.record(t, v_from, 'reassigned', 'agent_runtime_changed', v_old);
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.change_agent_runtime(uuid, uuid, uuid, timestamptz) IS
    'AgentRuntimeChanged: moves the agent''s unfinished tasks to its runtime (queued stay queued, dispatched and running are requeued there), one TaskReassigned each.';
