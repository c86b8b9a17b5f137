DROP INDEX dispatch.agents_runtime_idx;
DROP INDEX dispatch.agent_task_queue_ttl_idx;
CREATE INDEX agent_task_queue_ttl_idx ON dispatch.agent_task_queue (queued_at)
    WHERE status = 'queued';
