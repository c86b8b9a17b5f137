-- One dispatch round. For each online runtime with queued work whose row this caller can lock
-- (SKIP LOCKED: a runtime another replica is dispatching for is skipped, so its capacity is
-- only ever counted by one transaction at a time), the agents are locked the same way, and
-- queued tasks are dispatched in order of created_at - priority * p_aging (each priority level
-- is worth p_aging of waiting, so a task requested more than (4 - p) * p_aging after a task of
-- priority p never goes before it), within the runtime's free capacity, each agent's
-- max_concurrent_tasks, at most one active task per (agent, issue) and, when p_workspace_max
-- > 0, that many active tasks per workspace.
CREATE OR REPLACE FUNCTION dispatch.dispatch_round(p_lease interval, p_online_window interval,
                                                   p_limit integer, p_aging interval,
                                                   p_workspace_max integer)
-- Its statements keep one plan per session (plan_cache_mode = force_generic_plan), and that
-- plan reads agent_task_queue through its indexes only (no sequential or bitmap scans). The
-- function used to plan every statement at every call (force_custom_plan, disp6): a plan made
-- early in a session, with the statistics of a near-empty queue, had read the head as a scan
-- of every queued task, or every task, and kept it while the queue grew, and even fresh
-- statistics trail a queue that grows by thousands a second (autovacuum analyzes at most once
-- a minute), so a fresh plan had read the head as a bitmap of all open tasks, sorted. Planning
-- was then most of a round's cost (pg_stat_statements with track_planning: 36 s of a bench
-- run's dispatcher). Every read of the queue here has an index that answers it (the head:
-- agent_task_queue_head_idx in its order, which stops after the head; the active tasks: the
-- partial indexes by runtime, workspace and agent; the chosen tasks: the key, each statement
-- written so that no other index fits it as well), so with the scans that ignore them
-- disabled, a plan made on an empty queue reads the queue as a fresh one would (checked with
-- auto_explain at 10,000 queued, plans made on an empty queue). A plain index scan also drops
-- the dead entries of finished tasks that it passes.
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    rt record;
    v_agents uuid[];
    v_queue uuid[];
    v_qagents uuid[];
    v_qissues uuid[];
    v_qranks timestamptz[];
    v_ids uuid[];
    v_room uuid[];
    v_free integer;
    v_left integer := p_limit;
    v_want integer;
    v_head integer;
    v_now timestamptz;
    v_n integer;
BEGIN
    -- "Has queued work" is one probe of agent_task_queue_head_idx per online runtime (a
    -- subquery in the index's order, LIMIT 1): as an EXISTS, or without the order, the
    -- planner scanned the table (a hash semi-join, or a scan that passes every finished task
    -- before the first queued one): 1-3 ms a round at 10,000 rows, and it runs every round.
    FOR rt IN
        SELECT r.runtime_id, r.workspace_id, r.max_concurrency
          FROM dispatch.runtimes r
         WHERE r.offline_at IS NULL AND r.last_seen_at > clock_timestamp() - p_online_window
           AND (SELECT true FROM dispatch.agent_task_queue q
                 WHERE q.runtime_id = r.runtime_id AND q.status = 'queued'
                 ORDER BY q.priority, q.created_at LIMIT 1)
         ORDER BY r.runtime_id
           FOR UPDATE OF r SKIP LOCKED
    LOOP
        EXIT WHEN v_left <= 0;
        -- Counted under the runtime's lock, in a statement that starts after it was taken:
        -- every earlier dispatch for this runtime has committed and is seen here.
        SELECT rt.max_concurrency - count(*) INTO v_free
          FROM dispatch.agent_task_queue
         WHERE runtime_id = rt.runtime_id AND status IN ('dispatched', 'running');
        CONTINUE WHEN v_free <= 0;
        -- A workspace's runtimes may be locked by different replicas: the workspace's own
        -- (transaction-scoped, try) lock makes its count exact the same way; a workspace
        -- another replica is dispatching for is skipped this round.
        IF p_workspace_max > 0 THEN
            CONTINUE WHEN NOT pg_try_advisory_xact_lock(4252, hashtext(rt.workspace_id::text));
            SELECT least(v_free, p_workspace_max - count(*)) INTO v_free
              FROM dispatch.agent_task_queue
             WHERE workspace_id = rt.workspace_id AND status IN ('dispatched', 'running');
            CONTINUE WHEN v_free <= 0;
        END IF;
        -- Only the head of the queue is read: its first v_head tasks in dispatch order, taken
        -- from the first v_head of each priority level (within a level the order is
        -- created_at: agent_task_queue_head_idx). Whether a task may go depends only on the
        -- tasks before it (its agent's and its issue's), so when the head holds enough tasks
        -- that may go, they are the ones the whole queue would give; when it does not and
        -- more queue lies behind it, the round reads the whole queue (v_head NULL: LIMIT NULL
        -- is no limit). A round used to read the whole queue, 30 ms at 2,500 queued on a
        -- runtime, and it runs after every command batch.
        v_want := least(v_free, v_left);
        v_head := greatest(64, 4 * v_want);
        LOOP
            -- The head is carried in arrays (id, agent, issue, rank), so what follows reads
            -- no queue row again and its plans do not depend on the queue's statistics.
            SELECT array_agg(h.task_id ORDER BY h.rank_key, h.task_id),
                   array_agg(h.agent_id ORDER BY h.rank_key, h.task_id),
                   array_agg(h.issue_id ORDER BY h.rank_key, h.task_id),
                   array_agg(h.rank_key ORDER BY h.rank_key, h.task_id)
              INTO v_queue, v_qagents, v_qissues, v_qranks
              FROM (SELECT p.task_id, p.agent_id, p.issue_id,
                           p.created_at - p.priority * p_aging AS rank_key
                      FROM generate_series(0, 4) AS lvl(priority)
                     CROSS JOIN LATERAL (
                           SELECT q.task_id, q.agent_id, q.issue_id, q.created_at, q.priority
                             FROM dispatch.agent_task_queue q
                            WHERE q.runtime_id = rt.runtime_id AND q.status = 'queued'
                              AND q.priority = lvl.priority
                            ORDER BY q.created_at, q.task_id
                            LIMIT v_head) p
                     ORDER BY 4, 1
                     LIMIT v_head) h;
            -- An agent's tasks normally sit on one runtime, but a move in flight can leave
            -- them on two: the agent's lock keeps its own limit exact even then.
            SELECT coalesce(array_agg(l.agent_id), '{}') INTO v_agents
              FROM (SELECT a.agent_id FROM dispatch.agents a
                     WHERE a.agent_id = ANY (v_qagents)
                     ORDER BY a.agent_id
                       FOR UPDATE SKIP LOCKED) l;
            -- The candidates are worked out first, into an array, and then locked by key:
            -- the agents' active tasks once (not once per queued task). Joined in one
            -- statement, the planner (its statistics taken while the queue was small)
            -- recomputed the per-agent counts for every queued row.
            WITH act AS MATERIALIZED (
                SELECT x.agent_id, x.issue_id FROM dispatch.agent_task_queue x
                 WHERE x.agent_id = ANY (v_agents) AND x.status IN ('dispatched', 'running')),
            room AS MATERIALIZED (
                SELECT a.agent_id,
                       a.max_concurrent_tasks
                       - (SELECT count(*) FROM act WHERE act.agent_id = a.agent_id) AS free
                  FROM dispatch.agents a WHERE a.agent_id = ANY (v_agents)),
            busy AS MATERIALIZED (
                SELECT DISTINCT act.agent_id, act.issue_id FROM act
                 WHERE act.issue_id IS NOT NULL),
            c AS (
                SELECT w.task_id, w.agent_id, w.issue_id, w.rank_key, room.free,
                       row_number() OVER (PARTITION BY w.agent_id, w.issue_id
                                          ORDER BY w.rank_key, w.task_id) AS issue_rank
                  FROM unnest(v_queue, v_qagents, v_qissues, v_qranks)
                           AS w(task_id, agent_id, issue_id, rank_key)
                  JOIN room ON room.agent_id = w.agent_id
                 WHERE room.free > 0),
            e AS (
                SELECT c.task_id, c.agent_id, c.rank_key, c.free,
                       row_number() OVER (PARTITION BY c.agent_id
                                          ORDER BY c.rank_key, c.task_id) AS agent_rank
                  FROM c
                  LEFT JOIN busy ON busy.agent_id = c.agent_id AND busy.issue_id = c.issue_id
                 WHERE c.issue_id IS NULL OR (c.issue_rank = 1 AND busy.agent_id IS NULL))
            SELECT array_agg(f.task_id ORDER BY f.rank_key, f.task_id),
                   (SELECT coalesce(array_agg(room.agent_id), '{}') FROM room
                     WHERE room.free > (SELECT count(*) FROM e WHERE e.agent_id = room.agent_id))
              INTO v_ids, v_room
              FROM (SELECT e.task_id, e.rank_key FROM e
                     WHERE e.agent_rank <= e.free
                     ORDER BY e.rank_key, e.task_id
                     LIMIT v_want) f;
            EXIT WHEN v_head IS NULL OR coalesce(cardinality(v_queue), 0) < v_head
                   OR coalesce(cardinality(v_ids), 0) >= v_want;
            -- The rest of the queue can only add tasks of an agent with room left: one of the
            -- head's with more room than the head gives it (v_room: its head tasks were held
            -- back by their issues, or too few), or one the head did not reach. Without one,
            -- reading on finds nothing: a runtime with more room than its agents (20 slots,
            -- its one agent allowed 16) read its whole queue every round for nothing. An
            -- agent's queued tasks are on its runtime (request_task and change_agent_runtime
            -- keep them there, in one transaction), so this asks agents_runtime_idx, in one
            -- snapshot.
            EXIT WHEN NOT EXISTS (
                SELECT 1 FROM dispatch.agents a
                 WHERE a.runtime_id = rt.runtime_id
                   AND (a.agent_id = ANY (v_room) OR NOT a.agent_id = ANY (v_qagents))
                   AND EXISTS (SELECT 1 FROM dispatch.agent_task_queue q
                                WHERE q.agent_id = a.agent_id AND q.status = 'queued'
                                  AND q.runtime_id = rt.runtime_id));
            v_head := NULL;
        END LOOP;
        CONTINUE WHEN v_ids IS NULL;
        -- The chosen tasks are dispatched as one set: their rows locked in the round's order
        -- (SKIP LOCKED), one update, one insert of their transitions, the change rows in the
        -- round's order (what dispatch.record gives for each). A statement per task, when
        -- this function planned every statement at every call, was planned anew at every
        -- task, and so was the foreign-key check of its transition. Each row is locked by its
        -- key alone, one probe per id in the round's order (the LIMIT keeps the subquery
        -- apart, so its status and runtime are checked above it, on the locked and newest
        -- version), and updated by its key alone: the plan is kept for the session, and one
        -- made on a near-empty queue, given the status and runtime in the join's condition,
        -- read the runtime's whole queue through the head index to join it.
        v_now := clock_timestamp();
        RETURN QUERY
        WITH l AS MATERIALIZED (
            SELECT x.task_id, x.ord FROM unnest(v_ids) WITH ORDINALITY AS x(task_id, ord)
             CROSS JOIN LATERAL (
                   SELECT q.status, q.runtime_id FROM dispatch.agent_task_queue q
                    WHERE q.task_id = x.task_id
                    LIMIT 1
                      FOR UPDATE SKIP LOCKED) k
             WHERE k.status = 'queued' AND k.runtime_id = rt.runtime_id
             ORDER BY x.ord),
        u AS (
            UPDATE dispatch.agent_task_queue q
               SET status = 'dispatched', version = q.version + 1, dispatched_at = v_now,
                   lease_until = v_now + p_lease, wait_reason = NULL, updated_at = v_now
              FROM l
             WHERE q.task_id = l.task_id
            RETURNING l.ord, q.*),
        d AS MATERIALIZED (SELECT u.*, clock_timestamp() AS at FROM u),
        tr AS (
            INSERT INTO dispatch.task_transitions (task_id, from_status, to_status, event,
                                                   version, runtime_id, old_runtime_id, reason,
                                                   at)
            SELECT d.task_id, 'queued', d.status, 'dispatched', d.version, d.runtime_id, NULL,
                   NULL, d.at
              FROM d ORDER BY d.ord)
        SELECT 'applied', 'dispatched', d.task_id, d.workspace_id, d.agent_id, d.runtime_id,
               d.issue_id, d.version, d.status, 'queued', d.attempt,
               dispatch.rfc3339(d.lease_until), NULL::bigint, NULL, NULL, NULL, NULL::uuid,
               dispatch.rfc3339(d.at),
               (extract(epoch FROM d.dispatched_at - d.queued_at) * 1000)::double precision
          FROM d ORDER BY d.ord;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_left := v_left - v_n;
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.dispatch_round(interval, interval, integer, interval, integer) IS
    'Dispatches queued tasks to online runtimes by priority with aging (created_at - priority * p_aging), within runtime capacity, agent concurrency, one active task per (agent, issue) and the workspace cap (p_workspace_max, 0 for none); safe to run from several replicas at once.';
