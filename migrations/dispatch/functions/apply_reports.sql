-- The runtime's reports of a command batch applied as sets: the start, progress and finish
-- commands at positions p_set of p_cmds (dispatch.apply_commands' JSON array), each on a task
-- no other command of the batch names, so their order does not matter. One lock of their rows,
-- one update of those that may move, one insert of their transitions, instead of a function
-- call with each of these per command (0.4-0.7 ms a command under load). Outcomes as
-- start_task, report_progress and finish_task give them: the same refusals, the same
-- duplicate-progress no-op, the same row changes and the same change rows, one per command.
CREATE OR REPLACE FUNCTION dispatch.apply_reports(p_cmds jsonb, p_set integer[])
RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    -- Locked first and in key order, so that what follows sees each row's latest version.
    PERFORM 1 FROM dispatch.agent_task_queue q
     WHERE q.task_id IN (SELECT (p_cmds -> (k - 1) -> 'p' ->> 0)::uuid FROM unnest(p_set) AS s(k))
     ORDER BY q.task_id
       FOR UPDATE;
    RETURN QUERY
    WITH c AS (
        SELECT k AS cmd, x ->> 'op' AS op, (x -> 'p' ->> 0)::uuid AS task_id,
               (x -> 'p' ->> 1)::uuid AS runtime_id,
               CASE x ->> 'op' WHEN 'start_task' THEN 'started'
                               WHEN 'report_progress' THEN 'progress'
                               ELSE x -> 'p' ->> 2 END AS event,
               CASE WHEN x ->> 'op' = 'report_progress' THEN (x -> 'p' ->> 2)::bigint END AS seq,
               CASE WHEN x ->> 'op' = 'report_progress' THEN x -> 'p' ->> 3 END AS text,
               CASE WHEN x ->> 'op' = 'finish_task' THEN x -> 'p' ->> 3 END AS result,
               CASE WHEN x ->> 'op' = 'finish_task' THEN x -> 'p' ->> 4 END AS reason
          FROM unnest(p_set) AS s(k), LATERAL (SELECT p_cmds -> (k - 1) AS x) j),
    -- Each command's verdict, in check_move's order; NULL when it may proceed.
    v AS (
        SELECT c.*, q AS t, q.status AS from_status,
               CASE WHEN q.task_id IS NULL THEN 'unknown_task'
                    WHEN q.deleted_at IS NOT NULL THEN 'deleted'
                    WHEN c.runtime_id IS NOT NULL AND q.runtime_id <> c.runtime_id
                        THEN 'runtime_mismatch'
                    WHEN NOT EXISTS (SELECT 1 FROM dispatch.state_machine m
                                      WHERE m.from_status = q.status AND m.event = c.event)
                        THEN 'illegal_transition'
                    WHEN c.op = 'report_progress' AND q.last_progress_seq IS NOT NULL
                         AND c.seq <= q.last_progress_seq THEN 'duplicate'
               END AS verdict
          FROM c LEFT JOIN dispatch.agent_task_queue q ON q.task_id = c.task_id),
    u AS (
        UPDATE dispatch.agent_task_queue q
           SET status = CASE v.op WHEN 'start_task' THEN 'running'
                                  WHEN 'finish_task' THEN v.event ELSE q.status END,
               version = q.version + 1,
               lease_until = CASE WHEN v.op = 'report_progress' THEN q.lease_until END,
               started_at = CASE WHEN v.op = 'start_task' THEN v_now ELSE q.started_at END,
               last_progress_at = CASE WHEN v.op = 'finish_task' THEN q.last_progress_at
                                       ELSE v_now END,
               last_progress_seq = CASE v.op WHEN 'start_task' THEN NULL
                                             WHEN 'report_progress' THEN v.seq
                                             ELSE q.last_progress_seq END,
               completed_at = CASE WHEN v.op = 'finish_task' THEN v_now ELSE q.completed_at END,
               result = CASE WHEN v.op = 'finish_task' THEN v.result ELSE q.result END,
               failure_reason = CASE WHEN v.op = 'finish_task' THEN v.reason
                                     ELSE q.failure_reason END,
               wait_reason = CASE WHEN v.op = 'finish_task' THEN NULL ELSE q.wait_reason END,
               updated_at = v_now
          FROM v
         WHERE q.task_id = v.task_id AND v.verdict IS NULL
        RETURNING q.*, v.cmd, v.event, v.from_status AS v_from, v.seq AS v_seq,
                  v.text AS v_text, v.reason AS v_reason),
    tr AS (
        INSERT INTO dispatch.task_transitions (task_id, from_status, to_status, event, version,
                                               runtime_id, old_runtime_id, reason, at)
        SELECT u.task_id, u.v_from, u.status, u.event, u.version, u.runtime_id, NULL,
               u.v_reason, v_now
          FROM u)
    SELECT u.cmd,
           ROW('applied', u.event, u.task_id, u.workspace_id, u.agent_id, u.runtime_id,
               u.issue_id, u.version, u.status, u.v_from, u.attempt, NULL, u.v_seq, u.v_text,
               CASE WHEN u.event = 'completed' THEN u.result END, u.v_reason, NULL,
               dispatch.rfc3339(v_now), NULL)::dispatch.task_change
      FROM u
    UNION ALL
    SELECT v.cmd,
           dispatch.not_applied(CASE v.verdict WHEN 'duplicate' THEN 'noop' ELSE 'refused' END,
                                v.t, v.task_id, v.event, v.verdict)
      FROM v
     WHERE v.verdict IS NOT NULL;
END $$;
COMMENT ON FUNCTION dispatch.apply_reports(jsonb, integer[]) IS
    'Applies the start, progress and finish commands at positions p_set of a command batch (each on a task no other command of the batch names) as sets; returns each one''s change row with its position, as start_task, report_progress and finish_task would.';
