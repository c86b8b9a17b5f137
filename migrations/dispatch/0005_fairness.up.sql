-- Fairness: why a queued task waits, told once it has waited DISPATCH_WAIT_NOTICE (a
-- TaskWaiting event, the move queued -> queued below), and an index for the workspace cap.
-- Priority was already stored (0..4); dispatch now orders by it, with aging (dispatch_round).
ALTER TABLE dispatch.agent_task_queue
    ADD COLUMN wait_reason text CHECK (wait_reason IN ('runtime_offline', 'runtime_full',
                                                       'agent_at_capacity', 'issue_busy',
                                                       'workspace_at_capacity',
                                                       'behind_higher_priority'));
COMMENT ON COLUMN dispatch.agent_task_queue.wait_reason IS
    'While queued: why the task was not dispatched at the last look (runtime_offline, runtime_full, agent_at_capacity, issue_busy, workspace_at_capacity, behind_higher_priority), set by dispatch.note_waits once the task has waited DISPATCH_WAIT_NOTICE and emitted as TaskWaiting; NULL before that and whenever the task leaves the queue or moves.';
COMMENT ON COLUMN dispatch.agent_task_queue.priority IS
    'Priority from TaskRequested: 4 urgent, 3 high, 2 medium, 1 low, 0 none (also when absent), as Multica numbers an issue''s priority. Dispatch order is created_at - priority * DISPATCH_AGING_INTERVAL, oldest first: each level is worth that much waiting.';

-- The workspace cap counts a workspace's active tasks across its runtimes.
CREATE INDEX agent_task_queue_active_workspace_idx ON dispatch.agent_task_queue (workspace_id)
    WHERE status IN ('dispatched', 'running');

-- TaskWaiting: the task stays queued; only its wait reason changed.
INSERT INTO dispatch.state_machine (from_status, event, to_status) VALUES
    ('queued', 'waiting', 'queued');
COMMENT ON COLUMN dispatch.task_transitions.event IS 'Task event emitted for the change: queued, waiting, dispatched, started, progress, completed, failed, cancelled, requeued, reassigned or deleted.';
COMMENT ON COLUMN dispatch.task_transitions.reason IS 'Why (lease_expired, running_timeout, runtime_offline, runtime_silent, expired, agent_runtime_changed, a reported failure or cancellation reason; for waiting, the wait reason).';
