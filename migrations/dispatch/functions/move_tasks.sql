-- TaskStartReported and TaskCompletionReported / TaskFailureReported for a set of distinct
-- tasks (the start_task and finish_task commands among p_op): what dispatch.start_task and
-- dispatch.finish_task do for each, with one lock of the rows (in task order), one update of
-- those the state machine lets move and one insert of their transitions. A refusal is
-- dispatch.check_move's, in its order (unknown_task, deleted, runtime_mismatch,
-- illegal_transition).
CREATE OR REPLACE FUNCTION dispatch.move_tasks(p_cmd integer[], p_op text[], p_p jsonb[])
RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_bad text;
BEGIN
    IF NOT ('start_task' = ANY (p_op) OR 'finish_task' = ANY (p_op)) THEN
        RETURN;
    END IF;
    SELECT x.p ->> 2 INTO v_bad
      FROM unnest(p_op, p_p) AS x(op, p)
     WHERE x.op = 'finish_task' AND (x.p ->> 2) NOT IN ('completed', 'failed')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'finish_task: event must be completed or failed, got %', v_bad;
    END IF;
    PERFORM 1 FROM dispatch.agent_task_queue q
      WHERE q.task_id = ANY (ARRAY(SELECT (x.p ->> 0)::uuid FROM unnest(p_op, p_p) AS x(op, p)
                                    WHERE x.op IN ('start_task', 'finish_task')))
      ORDER BY q.task_id
        FOR UPDATE;
    RETURN QUERY
    WITH c AS (
        SELECT x.i, (x.p ->> 0)::uuid AS task, (x.p ->> 1)::uuid AS runtime,
               CASE x.op WHEN 'start_task' THEN 'started' ELSE x.p ->> 2 END AS event,
               CASE x.op WHEN 'finish_task' THEN x.p ->> 3 END AS result,
               CASE x.op WHEN 'finish_task' THEN x.p ->> 4 END AS reason
          FROM unnest(p_cmd, p_op, p_p) AS x(i, op, p)
         WHERE x.op IN ('start_task', 'finish_task')),
    j AS MATERIALIZED (
        SELECT c.*, q AS t, q.status AS from_status, m.to_status,
               CASE WHEN q.task_id IS NULL THEN 'unknown_task'
                    WHEN q.deleted_at IS NOT NULL THEN 'deleted'
                    WHEN c.runtime IS NOT NULL AND q.runtime_id <> c.runtime THEN 'runtime_mismatch'
                    WHEN m.to_status IS NULL THEN 'illegal_transition' END AS refusal
          FROM c
          LEFT JOIN dispatch.agent_task_queue q ON q.task_id = c.task
          LEFT JOIN dispatch.state_machine m ON m.from_status = q.status AND m.event = c.event),
    u AS (
        UPDATE dispatch.agent_task_queue q
           SET status = j.to_status, version = q.version + 1, lease_until = NULL,
               started_at = CASE WHEN j.event = 'started' THEN v_now ELSE q.started_at END,
               last_progress_at = CASE WHEN j.event = 'started' THEN v_now
                                       ELSE q.last_progress_at END,
               last_progress_seq = CASE WHEN j.event = 'started' THEN NULL
                                        ELSE q.last_progress_seq END,
               completed_at = CASE WHEN j.event = 'started' THEN q.completed_at ELSE v_now END,
               result = CASE WHEN j.event = 'started' THEN q.result ELSE j.result END,
               failure_reason = CASE WHEN j.event = 'started' THEN q.failure_reason
                                     ELSE j.reason END,
               wait_reason = CASE WHEN j.event = 'started' THEN q.wait_reason END,
               updated_at = v_now
          FROM j
         WHERE j.refusal IS NULL AND q.task_id = j.task
        RETURNING j.i AS cmd_pos, j.event AS moved_by, j.from_status AS moved_from,
                  j.reason AS moved_why, q.*),
    d AS MATERIALIZED (SELECT u.*, clock_timestamp() AS at FROM u),
    tr AS (
        INSERT INTO dispatch.task_transitions (task_id, from_status, to_status, event, version,
                                               runtime_id, old_runtime_id, reason, at)
        SELECT d.task_id, d.moved_from, d.status, d.moved_by, d.version, d.runtime_id, NULL,
               d.moved_why, d.at
          FROM d)
    SELECT j.i,
           CASE WHEN j.refusal IS NOT NULL
                THEN dispatch.not_applied('refused', j.t, j.task, j.event, j.refusal)
                ELSE ROW('applied', d.moved_by, d.task_id, d.workspace_id, d.agent_id,
                         d.runtime_id, d.issue_id, d.version, d.status, d.moved_from, d.attempt,
                         NULL, NULL, NULL,
                         CASE WHEN d.moved_by = 'completed' THEN d.result END, d.moved_why,
                         NULL, dispatch.rfc3339(d.at), NULL)::dispatch.task_change END
      FROM j
      LEFT JOIN d ON d.cmd_pos = j.i;
END $$;
COMMENT ON FUNCTION dispatch.move_tasks(integer[], text[], jsonb[]) IS
    'TaskStartReported, TaskCompletionReported and TaskFailureReported for distinct tasks (the start_task and finish_task commands among positions, ops and parameters): start_task''s and finish_task''s outcome for each, in one update and one insert of transitions.';
