-- The head of a runtime's queue by priority level: a dispatch round reads the first tasks of
-- each level (created_at order within it) instead of the runtime's whole queue. (The same
-- release adds dispatch.apply_commands, the command batch in one call; down drops it too.)
CREATE INDEX agent_task_queue_head_idx
    ON dispatch.agent_task_queue (runtime_id, priority, created_at, task_id)
    WHERE status = 'queued';
