-- A task as the task read model answers it: the dispatcher's state as the gateway projected
-- it, and what the daemon reported (session, work directory). created_at is when it was
-- requested.
CREATE OR REPLACE FUNCTION gateway.task_json(t gateway.tasks)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', t.task_id, 'workspace_id', t.workspace_id,
                             'issue_id', t.issue_id, 'agent_id', t.agent_id,
                             'runtime_id', t.runtime_id, 'status', t.status,
                             'version', t.version, 'attempt', t.attempt,
                             'lease_until', t.lease_until, 'result', t.result,
                             'failure_reason', t.failure_reason, 'wait_reason', t.wait_reason,
                             'requested_at', t.requested_at, 'dispatched_at', t.dispatched_at,
                             'claimed_at', t.claimed_at, 'started_at', t.started_at,
                             'completed_at', t.completed_at, 'session_id', t.session_id,
                             'work_dir', t.work_dir, 'created_at', t.requested_at)
$$;
COMMENT ON FUNCTION gateway.task_json(gateway.tasks) IS 'A task of the read model as JSON.';
