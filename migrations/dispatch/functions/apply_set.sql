-- A run of request_task, start_task and finish_task commands (dispatch.apply_commands), each
-- for a different task: the requests by dispatch.request_tasks, the moves by
-- dispatch.move_tasks, one row per command, in command order.
CREATE OR REPLACE FUNCTION dispatch.apply_set(p_cmd integer[], p_op text[], p_p jsonb[])
RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT s.cmd, s.change
      FROM (SELECT * FROM dispatch.request_tasks(p_cmd, p_op, p_p)
            UNION ALL
            SELECT * FROM dispatch.move_tasks(p_cmd, p_op, p_p)) s
     ORDER BY s.cmd;
END $$;
COMMENT ON FUNCTION dispatch.apply_set(integer[], text[], jsonb[]) IS
    'Applies commands (position, op, parameters) for distinct tasks set-wise: requests and start/finish moves, one row per command in command order.';
