-- Runs of a command batch are applied set-wise (functions/apply_set.sql, request_tasks.sql,
-- move_tasks.sql; down drops them): the transitions of one run are inserted by one statement,
-- each row still stamped by clock_timestamp, so a task's changes keep their order while the
-- order among the run's tasks is the insert's, not the batch's.
COMMENT ON COLUMN dispatch.task_transitions.at IS 'Database clock when the change was made (clock_timestamp, so a task''s changes in one transaction keep their order; changes to different tasks applied together by one statement have no order among them).';
