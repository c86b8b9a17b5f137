-- Applies a batch of commands in one call (the command loop's batch: one round trip, not one
-- statement per command). p_cmds is a JSON array of {"op": ..., "p": [parameters as text or
-- null]}, applied in order; returns the rows of each command, each with its 1-based position,
-- in command order. request_task, start_task and finish_task are applied set-wise: a run of
-- them naming each task at most once (they touch different rows, so their order does not
-- matter) goes to dispatch.apply_set as one set; a second command for a task, or any other
-- op, ends the run, so two commands for one task still apply in order, the second seeing the
-- first. Every other op is applied alone by its state-machine function. An op it does not
-- know is an error (the whole batch then fails and the service applies its commands one by
-- one).
CREATE OR REPLACE FUNCTION dispatch.apply_commands(p_cmds jsonb)
RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
    i integer;
    p jsonb;
    v_set boolean;
    v_task uuid;
    s_cmd integer[] := '{}';
    s_op text[] := '{}';
    s_p jsonb[] := '{}';
    s_task uuid[] := '{}';
BEGIN
    FOR c, i IN SELECT x.value, x.ordinality FROM jsonb_array_elements(p_cmds) WITH ORDINALITY AS x
                 ORDER BY x.ordinality
    LOOP
        p := c -> 'p';
        v_set := c ->> 'op' IN ('request_task', 'start_task', 'finish_task');
        v_task := CASE WHEN v_set THEN (p ->> 0)::uuid END;
        -- The run ends before any other op and before a second command for one of its tasks.
        IF cardinality(s_cmd) > 0 AND (NOT v_set OR v_task = ANY (s_task)) THEN
            RETURN QUERY SELECT * FROM dispatch.apply_set(s_cmd, s_op, s_p);
            s_cmd := '{}';
            s_op := '{}';
            s_p := '{}';
            s_task := '{}';
        END IF;
        IF v_set THEN
            s_cmd := s_cmd || i;
            s_op := s_op || (c ->> 'op');
            s_p := s_p || p;
            s_task := s_task || v_task;
            CONTINUE;
        END IF;
        CASE c ->> 'op'
        WHEN 'report_progress' THEN
            RETURN QUERY SELECT i, r FROM dispatch.report_progress(
                (p ->> 0)::uuid, (p ->> 1)::uuid, (p ->> 2)::bigint, p ->> 3) r;
        WHEN 'cancel_task' THEN
            RETURN QUERY SELECT i, r FROM dispatch.cancel_task(
                (p ->> 0)::uuid, p ->> 1, (p ->> 2)::boolean) r;
        WHEN 'change_agent_runtime' THEN
            RETURN QUERY SELECT i, r FROM dispatch.change_agent_runtime(
                (p ->> 0)::uuid, (p ->> 1)::uuid, (p ->> 2)::uuid, (p ->> 3)::timestamptz) r;
        WHEN 'runtime_seen' THEN
            RETURN QUERY SELECT i, r FROM dispatch.runtime_seen(
                (p ->> 0)::uuid, (p ->> 1)::uuid, (p ->> 2)::integer, (p ->> 3)::timestamptz) r;
        WHEN 'runtime_offline' THEN
            RETURN QUERY SELECT i, r FROM dispatch.runtime_offline(
                (p ->> 0)::uuid, (p ->> 1)::uuid, (p ->> 2)::timestamptz) r;
        END CASE;
    END LOOP;
    IF cardinality(s_cmd) > 0 THEN
        RETURN QUERY SELECT * FROM dispatch.apply_set(s_cmd, s_op, s_p);
    END IF;
END $$;
COMMENT ON FUNCTION dispatch.apply_commands(jsonb) IS
    'Applies a batch of task commands and runtime events ([{"op", "p": [text parameters]}]) in order: runs of request_task, start_task and finish_task naming distinct tasks set-wise (dispatch.apply_set), the rest one by one by their functions; returns each command''s rows with its position, in command order.';
