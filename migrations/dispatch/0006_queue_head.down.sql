DROP INDEX dispatch.agent_task_queue_head_idx;
DROP FUNCTION IF EXISTS dispatch.apply_commands(jsonb);
