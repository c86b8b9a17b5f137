-- Progress kept in the gateway (issue 17): a daemon's progress report is stored and logged for
-- the WebSocket by the gateway itself, in the report's transaction, instead of travelling as a
-- command through the dispatcher's state machine and back as an event. Such an event carries
-- the version of the task's start (a progress report is no change of state), so the log keeps
-- one row per (task, version, progress seq); the dispatcher hears of a report only as a
-- liveness mark, at most one per task every few seconds (progress_marked_at).
ALTER TABLE gateway.task_event_log ADD COLUMN progress_seq bigint NOT NULL DEFAULT -1;
COMMENT ON COLUMN gateway.task_event_log.progress_seq IS
    'For a progress event the gateway logged: the report''s seq (its version is the start''s); -1 for every other event.';
ALTER TABLE gateway.task_event_log DROP CONSTRAINT task_event_log_task_id_version_key;
ALTER TABLE gateway.task_event_log
    ADD CONSTRAINT task_event_log_task_version_progress_key UNIQUE (task_id, version, progress_seq);

ALTER TABLE gateway.tasks ADD COLUMN progress_marked_at timestamptz;
COMMENT ON COLUMN gateway.tasks.progress_marked_at IS
    'When a progress report of this task was last passed on to the dispatcher as a liveness mark (the running timeout''s last_progress_at).';
