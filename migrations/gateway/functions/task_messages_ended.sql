-- The task messages whose transactions committed after the snapshot p_since was taken and
-- before this call's snapshot, as each watcher receives them, with what they are matched on
-- (task, workspace, issue), in the order of their transactions and then by seq; and this
-- call's snapshot, the next call's p_since, in every row (one row without a message when none
-- is new, and when p_since is NULL: a listener's first call takes the snapshot only).
-- Every WebSocket listener of every gateway replica reads messages this way (ws.c), instead of
-- a NOTIFY from each writer (issue 17). A row is new when its transaction (task_messages.xid)
-- was not visible in p_since and is visible now: it committed in between. Transactions below
-- p_since's xmin were visible in it, so the scan starts there. Row by row this is exact: a
-- message that commits out of order (a lower xid committing after a higher one) is found by
-- the call after its commit, and none is read twice.
-- One plan per session (plan_cache_mode = force_generic_plan): left to choose, the plan cache
-- planned every call anew (its generic estimate for the range is a third of the table, so the
-- generic plan never looked cheaper than a custom one), 0.7 ms a call in the bench, 50 calls
-- a second. With the scans that would not use task_messages_xid_idx off, the generic plan is
-- the index scan (0.07 ms a call on 20,000 messages). Each message's task is probed by key
-- (LATERAL ... LIMIT 1): the generic plan, expecting a third of the messages, joined the
-- tasks by hashing all of them (1.9 ms a call in the bench with 8,000 tasks).
CREATE OR REPLACE FUNCTION gateway.task_messages_ended(p_since pg_snapshot)
RETURNS TABLE (snapshot text, task_id uuid, workspace_id uuid, issue_id uuid, message text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    RETURN QUERY
    SELECT pg_current_snapshot()::text, m.task_id, t.workspace_id, t.issue_id,
           json_build_object('task_id', m.task_id, 'issue_id', t.issue_id, 'seq', m.seq,
                             'type', m.type, 'tool', m.tool, 'content', m.content,
                             'input', m.input, 'output', m.output,
                             'created_at', m.created_at)::text
      FROM (SELECT 1) o
      LEFT JOIN LATERAL (
            SELECT x.* FROM gateway.task_messages x
             WHERE x.xid >= pg_snapshot_xmin(p_since)
               AND NOT pg_visible_in_snapshot(x.xid, p_since)) m ON true
      LEFT JOIN LATERAL (
            SELECT k.workspace_id, k.issue_id FROM gateway.tasks k
             WHERE k.task_id = m.task_id LIMIT 1) t ON true
     ORDER BY m.xid, m.task_id, m.seq;
END $$;
COMMENT ON FUNCTION gateway.task_messages_ended(pg_snapshot) IS
    'The task messages committed between snapshot p_since and now, for the WebSocket listeners (no NOTIFY), with the snapshot to pass next time.';
