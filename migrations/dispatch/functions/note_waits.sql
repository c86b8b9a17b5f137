-- Says why queued tasks wait. A task queued for at least p_notice whose reason differs from
-- the one it carries gets the new one and a TaskWaiting event (version + 1), so a task that
-- waits long shows why (Multica's users saw one wait 59 minutes behind higher priorities with
-- no word of it, its #8551), while a task dispatched within p_notice costs nothing. The first
-- reason that holds, in this order:
--   runtime_offline         its runtime is offline, silent past p_online_window, or unknown
--   agent_at_capacity       its agent runs max_concurrent_tasks already
--   issue_busy              its agent already runs (or will first run) a task of its issue
--   workspace_at_capacity   its workspace runs p_workspace_max tasks already (0: no cap)
--   behind_higher_priority  its runtime is full and a task of higher priority that could run
--                           is ahead of it in the runtime's order
--   runtime_full            its runtime is full
-- A task that could run on a runtime with room is left alone: the next round dispatches it.
-- Set-based: one statement over the queue, active counts joined once per runtime, agent and
-- workspace; the rows it changes are locked with SKIP LOCKED (a command may hold one).
CREATE OR REPLACE FUNCTION dispatch.note_waits(p_online_window interval, p_aging interval,
                                               p_workspace_max integer, p_notice interval,
                                               p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    v_now timestamptz := clock_timestamp();
    v_ids uuid[];
    v_reasons text[];
BEGIN
    -- The reasons are worked out first, over the queue once, into arrays; the rows are then
    -- locked by primary key. One statement joining the queue to the reasons let the planner,
    -- misled by statistics taken while the queue was empty, recompute the reasons for every
    -- queued row: 18 s a call with 10,000 queued, on the thread that dispatches.
    WITH active AS (
        SELECT runtime_id, workspace_id, agent_id, issue_id FROM dispatch.agent_task_queue
         WHERE status IN ('dispatched', 'running')),
    rt_n AS (SELECT runtime_id, count(*) AS n FROM active GROUP BY runtime_id),
    ag_n AS (SELECT agent_id, count(*) AS n FROM active GROUP BY agent_id),
    ws_n AS (SELECT workspace_id, count(*) AS n FROM active GROUP BY workspace_id),
    busy AS (SELECT DISTINCT agent_id, issue_id FROM active WHERE issue_id IS NOT NULL),
    c AS (
        SELECT w.task_id, w.runtime_id, w.priority, w.queued_at, w.wait_reason,
               w.created_at - w.priority * p_aging AS rank_key,
               r.runtime_id IS NULL OR r.offline_at IS NOT NULL
                   OR r.last_seen_at <= v_now - p_online_window AS offline,
               coalesce(rn.n, 0) >= coalesce(r.max_concurrency, 0) AS rt_full,
               coalesce(an.n, 0) >= coalesce(a.max_concurrent_tasks, 1) AS agent_full,
               w.issue_id IS NOT NULL
                   AND (b.agent_id IS NOT NULL
                        OR row_number() OVER (PARTITION BY w.agent_id, w.issue_id
                                              ORDER BY w.created_at - w.priority * p_aging,
                                                       w.task_id) > 1) AS issue_busy,
               p_workspace_max > 0 AND coalesce(wn.n, 0) >= p_workspace_max AS ws_full
          FROM dispatch.agent_task_queue w
          LEFT JOIN dispatch.runtimes r ON r.runtime_id = w.runtime_id
          LEFT JOIN dispatch.agents a ON a.agent_id = w.agent_id
          LEFT JOIN rt_n rn ON rn.runtime_id = w.runtime_id
          LEFT JOIN ag_n an ON an.agent_id = w.agent_id
          LEFT JOIN ws_n wn ON wn.workspace_id = w.workspace_id
          LEFT JOIN busy b ON b.agent_id = w.agent_id AND b.issue_id = w.issue_id
         WHERE w.status = 'queued'),
    h AS (
        SELECT c.*,
               coalesce(max(c.priority) FILTER (WHERE NOT (c.offline OR c.agent_full
                                                           OR c.issue_busy OR c.ws_full))
                        OVER (PARTITION BY c.runtime_id ORDER BY c.rank_key, c.task_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                        -1) > c.priority AS higher_ahead
          FROM c),
    why AS (
        SELECT h.task_id, h.rank_key,
               CASE WHEN h.offline THEN 'runtime_offline'
                    WHEN h.agent_full THEN 'agent_at_capacity'
                    WHEN h.issue_busy THEN 'issue_busy'
                    WHEN h.ws_full THEN 'workspace_at_capacity'
                    WHEN h.rt_full AND h.higher_ahead THEN 'behind_higher_priority'
                    WHEN h.rt_full THEN 'runtime_full'
               END AS reason, h.wait_reason
          FROM h
         WHERE h.queued_at <= v_now - p_notice),
    todo AS (
        SELECT why.task_id, why.reason, why.rank_key FROM why
         WHERE why.reason IS NOT NULL AND why.reason IS DISTINCT FROM why.wait_reason
         ORDER BY why.rank_key, why.task_id
         LIMIT p_limit)
    SELECT array_agg(todo.task_id ORDER BY todo.rank_key, todo.task_id),
           array_agg(todo.reason ORDER BY todo.rank_key, todo.task_id)
      INTO v_ids, v_reasons
      FROM todo;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    FOR t IN
        WITH locked AS (
            SELECT q.task_id, x.reason
              FROM unnest(v_ids, v_reasons) WITH ORDINALITY AS x(task_id, reason, ord)
              JOIN dispatch.agent_task_queue q ON q.task_id = x.task_id
             WHERE q.status = 'queued'
             ORDER BY x.ord
               FOR UPDATE OF q SKIP LOCKED)
        UPDATE dispatch.agent_task_queue u
           SET wait_reason = locked.reason, version = u.version + 1, updated_at = v_now
          FROM locked
         WHERE u.task_id = locked.task_id
        RETURNING u.*
    LOOP
        RETURN NEXT dispatch.record(t, 'queued', 'waiting', t.wait_reason);
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.note_waits(interval, interval, integer, interval, integer) IS
    'Sets the wait reason of tasks queued for at least p_notice whose reason changed, one TaskWaiting each (runtime_offline, agent_at_capacity, issue_busy, workspace_at_capacity, behind_higher_priority, runtime_full).';
