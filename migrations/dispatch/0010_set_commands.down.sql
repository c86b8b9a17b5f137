DROP FUNCTION IF EXISTS dispatch.apply_set(integer[], text[], jsonb[]);
DROP FUNCTION IF EXISTS dispatch.request_tasks(integer[], text[], jsonb[]);
DROP FUNCTION IF EXISTS dispatch.move_tasks(integer[], text[], jsonb[]);
COMMENT ON COLUMN dispatch.task_transitions.at IS 'Database clock when the change was made (clock_timestamp, so changes in one transaction keep their order).';
