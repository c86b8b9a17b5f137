ALTER TABLE dispatch.agent_task_queue RESET (fillfactor);
CREATE INDEX agent_task_queue_running_idx ON dispatch.agent_task_queue (last_progress_at)
    WHERE status = 'running';
