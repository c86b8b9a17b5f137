-- A progress report (twice per task in the bench, often more in use) and a new wait reason
-- update a queue row without changing its status: such an update can be HOT (no new index
-- entries, the old version pruned in its page) when it changes no indexed column and the page
-- has room. last_progress_at was indexed (agent_task_queue_running_idx, for the running
-- timeout), so every progress report wrote a new entry into each of the row's six indexes.
-- The running timeout reads the running tasks through agent_task_queue_active_runtime_idx
-- instead (dispatched or running: no more than the runtimes' capacity), and pages are filled
-- to 80 % so that an update finds room beside its row.
DROP INDEX dispatch.agent_task_queue_running_idx;
ALTER TABLE dispatch.agent_task_queue SET (fillfactor = 80);
