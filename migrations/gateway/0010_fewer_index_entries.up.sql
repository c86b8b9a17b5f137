-- Fewer index entries per task event (issue 17). Every task event the projection applies is a
-- new version of the task's gateway.tasks row that no update can keep HOT (its status is in
-- the claim's index), so each version went into every index of the table, and each event's
-- log row into every index of the log.
-- - task_event_log_workspace_idx: no statement reads the log by workspace (the listeners read
--   it by seq, the prune by age), so it was one more entry per log row for nothing.
-- - tasks_runtime_idx (runtime_id, status): its one reader asks for the running tasks of a
--   runtime (gw_task_running_on; the claims read tasks_claimable_idx), so a partial index of
--   the running tasks answers it, and only a start writes an entry in it, not every event.
DROP INDEX gateway.task_event_log_workspace_idx;
DROP INDEX gateway.tasks_runtime_idx;
CREATE INDEX tasks_running_idx ON gateway.tasks (runtime_id) WHERE status = 'running';
