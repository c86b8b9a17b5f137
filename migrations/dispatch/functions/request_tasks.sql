-- TaskRequested for a set of distinct tasks (the request_task commands among p_op): what
-- dispatch.request_task does for each, in one insert of the queue rows and one of their
-- transitions. The agent's row is read, not written, when every command describes its agent as
-- it is (or older): upsert_agent would change nothing for any of them, so each task takes the
-- agent's runtime as it stands. Otherwise (a new agent, a change) the commands are applied one
-- by one by dispatch.request_task, in order, so that a later command sees an earlier one's
-- agent.
CREATE OR REPLACE FUNCTION dispatch.request_tasks(p_cmd integer[], p_op text[], p_p jsonb[])
RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_as_is boolean;
BEGIN
    IF NOT 'request_task' = ANY (p_op) THEN
        RETURN;
    END IF;
    SELECT bool_and(coalesce(a.described_at > (x.p ->> 8)::timestamptz
                             OR (a.workspace_id = (x.p ->> 1)::uuid
                                 AND a.runtime_id = (x.p ->> 3)::uuid
                                 AND a.max_concurrent_tasks
                                     = coalesce((x.p ->> 7)::integer, a.max_concurrent_tasks)),
                             false))
      INTO v_as_is
      FROM unnest(p_op, p_p) AS x(op, p)
      LEFT JOIN dispatch.agents a ON a.agent_id = (x.p ->> 2)::uuid
     WHERE x.op = 'request_task';
    IF NOT v_as_is THEN
        RETURN QUERY
        SELECT x.i, r
          FROM unnest(p_cmd, p_op, p_p) AS x(i, op, p)
         CROSS JOIN LATERAL dispatch.request_task(
                (x.p ->> 0)::uuid, (x.p ->> 1)::uuid, (x.p ->> 2)::uuid, (x.p ->> 3)::uuid,
                (x.p ->> 4)::uuid, x.p ->> 5, (x.p ->> 6)::integer, (x.p ->> 7)::integer,
                (x.p ->> 8)::timestamptz) r
         WHERE x.op = 'request_task'
         ORDER BY x.i;
        RETURN;
    END IF;
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT x.i, (x.p ->> 0)::uuid AS task, (x.p ->> 2)::uuid AS agent,
               (x.p ->> 4)::uuid AS issue, x.p ->> 5 AS title, (x.p ->> 6)::integer AS priority
          FROM unnest(p_cmd, p_op, p_p) AS x(i, op, p)
         WHERE x.op = 'request_task'),
    ins AS (
        -- The task follows the agent: its runtime is the agent's newest.
        INSERT INTO dispatch.agent_task_queue (task_id, workspace_id, agent_id, runtime_id,
                                               issue_id, status, version, attempt, priority,
                                               title, queued_at, created_at, updated_at)
        SELECT c.task, a.workspace_id, c.agent, a.runtime_id, c.issue, 'queued', 1, 1,
               coalesce(c.priority, 0), c.title, v_now, v_now, v_now
          FROM c JOIN dispatch.agents a ON a.agent_id = c.agent
         ORDER BY c.i
        ON CONFLICT (task_id) DO NOTHING
        RETURNING *),
    d AS MATERIALIZED (SELECT ins.*, clock_timestamp() AS at FROM ins),
    tr AS (
        INSERT INTO dispatch.task_transitions (task_id, from_status, to_status, event, version,
                                               runtime_id, old_runtime_id, reason, at)
        SELECT d.task_id, NULL, 'queued', 'queued', d.version, d.runtime_id, NULL, NULL, d.at
          FROM d)
    SELECT c.i,
           CASE WHEN d.task_id IS NULL
                THEN dispatch.not_applied('noop', q, c.task, 'queued', 'duplicate')
                ELSE ROW('applied', 'queued', d.task_id, d.workspace_id, d.agent_id, d.runtime_id,
                         d.issue_id, d.version, d.status, NULL, d.attempt, NULL, NULL, NULL, NULL,
                         NULL, NULL, dispatch.rfc3339(d.at), NULL)::dispatch.task_change END
      FROM c
      LEFT JOIN d ON d.task_id = c.task
      LEFT JOIN dispatch.agent_task_queue q ON d.task_id IS NULL AND q.task_id = c.task;
END $$;
COMMENT ON FUNCTION dispatch.request_tasks(integer[], text[], jsonb[]) IS
    'TaskRequested for distinct tasks (the request_task commands among positions, ops and parameters): request_task''s outcome for each, in one insert when no agent changes.';
