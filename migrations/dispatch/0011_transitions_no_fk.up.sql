-- task_transitions without its foreign key to agent_task_queue. Transitions are written only
-- by the dispatch.* functions, each for a queue row it has just locked and updated in the
-- same transaction, and queue rows are never deleted (a deletion is the status 'deleted'), so
-- the key's check could never fail; it was a query per transition (about five per task), run
-- at each insert with a row lock on the queue row it had just updated, and re-planned at
-- every call inside dispatch_round (plan_cache_mode). UNIQUE (task_id, version) stays.
ALTER TABLE dispatch.task_transitions DROP CONSTRAINT task_transitions_task_id_fkey;
COMMENT ON COLUMN dispatch.task_transitions.task_id IS 'The task (a row of agent_task_queue: written only by the dispatch.* functions for a row they changed; not a foreign key, which cost a check per transition).';
