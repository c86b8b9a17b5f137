-- Drops agent_task_queue_queued_idx (runtime_id, created_at, task_id) WHERE status = 'queued':
-- agent_task_queue_head_idx (runtime_id, priority, created_at, task_id, the same rows) serves
-- every read it served. With both, the dispatch round's cached generic plan for the head of
-- the queue took this one and filtered on priority, so each empty priority level walked the
-- runtime's whole queue (3 ms a round at 7,500 queued, most of the round); one index fewer is
-- also one entry fewer written per queued task.
DROP INDEX dispatch.agent_task_queue_queued_idx;
