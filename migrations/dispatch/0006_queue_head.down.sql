DROP INDEX dispatch.agent_task_queue_head_idx;
