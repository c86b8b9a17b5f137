DROP INDEX gateway.tasks_running_idx;
CREATE INDEX tasks_runtime_idx ON gateway.tasks (runtime_id, status);
CREATE INDEX task_event_log_workspace_idx ON gateway.task_event_log (workspace_id, seq);
