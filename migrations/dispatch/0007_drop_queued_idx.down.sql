CREATE INDEX agent_task_queue_queued_idx ON dispatch.agent_task_queue (runtime_id, created_at, task_id)
    WHERE status = 'queued';
