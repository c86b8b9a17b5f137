-- Two things the dispatch round's cached plans need. (1) agent_task_queue_ttl_idx (queued_at)
-- WHERE status = 'queued' covered the same rows as agent_task_queue_head_idx, so the head of
-- a runtime's queue could be read through it: a plan made while the queue was near empty
-- (the planner's statistics of that moment) did, scanning every queued task of every runtime
-- and sorting, 2-4 ms a read at 10,000 queued, and kept it while the queue grew. With
-- queued_at IS NOT NULL in its predicate only a query that bounds queued_at (the TTL sweep:
-- `queued_at < ...` implies it) can use it. (2) agents by runtime: when a round's head gives
-- fewer tasks than the runtime has room for, it asks whether an agent with room has queued
-- work there before it reads the whole queue.
DROP INDEX dispatch.agent_task_queue_ttl_idx;
CREATE INDEX agent_task_queue_ttl_idx ON dispatch.agent_task_queue (queued_at)
    WHERE status = 'queued' AND queued_at IS NOT NULL;
CREATE INDEX agents_runtime_idx ON dispatch.agents (runtime_id);
