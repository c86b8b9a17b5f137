-- Why a queued task waits, as the dispatcher's TaskWaiting events say (docs/DISPATCHER.md):
-- shown with the task in GET /api/tasks/{id} and an issue's task runs.
ALTER TABLE gateway.tasks ADD COLUMN wait_reason text;
COMMENT ON COLUMN gateway.tasks.wait_reason IS
    'While queued: why the dispatcher has not dispatched it (runtime_offline, runtime_full, agent_at_capacity, issue_busy, workspace_at_capacity, behind_higher_priority), from its newest TaskWaiting; NULL before the first and after any other event.';
