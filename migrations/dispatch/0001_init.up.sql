-- The dispatch slice: the task queue, its transitions log, runtime capacity and liveness.
-- Owned by multica_dispatch; no other role writes here.
COMMENT ON SCHEMA dispatch IS 'task-dispatcher slice: agent_task_queue, transitions, runtime liveness';
REVOKE ALL ON SCHEMA dispatch FROM PUBLIC;
