ALTER TABLE dispatch.task_transitions
    ADD CONSTRAINT task_transitions_task_id_fkey FOREIGN KEY (task_id)
    REFERENCES dispatch.agent_task_queue (task_id) ON DELETE CASCADE;
COMMENT ON COLUMN dispatch.task_transitions.task_id IS 'The task.';
