ALTER TABLE gateway.tasks DROP COLUMN progress_marked_at;
-- The gateway's progress rows share their start's version: keep the first row of each version.
DELETE FROM gateway.task_event_log l
 WHERE l.progress_seq >= 0
   AND EXISTS (SELECT 1 FROM gateway.task_event_log o
                WHERE o.task_id = l.task_id AND o.version = l.version AND o.seq < l.seq);
ALTER TABLE gateway.task_event_log DROP CONSTRAINT task_event_log_task_version_progress_key;
ALTER TABLE gateway.task_event_log ADD CONSTRAINT task_event_log_task_id_version_key
    UNIQUE (task_id, version);
ALTER TABLE gateway.task_event_log DROP COLUMN progress_seq;
