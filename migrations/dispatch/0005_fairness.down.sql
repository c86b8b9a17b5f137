DROP FUNCTION IF EXISTS dispatch.note_waits(interval, interval, integer, interval, integer);
DROP FUNCTION IF EXISTS dispatch.dispatch_round(interval, interval, integer, interval, integer);
DELETE FROM dispatch.state_machine WHERE from_status = 'queued' AND event = 'waiting';
DROP INDEX dispatch.agent_task_queue_active_workspace_idx;
ALTER TABLE dispatch.agent_task_queue DROP COLUMN wait_reason;
COMMENT ON COLUMN dispatch.agent_task_queue.priority IS 'Priority from TaskRequested (0..4), carried for readers; dispatch order is oldest first.';
COMMENT ON COLUMN dispatch.task_transitions.event IS 'Task event emitted for the change: queued, dispatched, started, progress, completed, failed, cancelled, requeued, reassigned or deleted.';
COMMENT ON COLUMN dispatch.task_transitions.reason IS 'Why (lease_expired, running_timeout, runtime_offline, runtime_silent, expired, agent_runtime_changed, a reported failure or cancellation reason).';
