-- Applies a batch of commands in one call (the command loop's batch: one round trip, not one
-- statement per command). p_cmds is a JSON array of {"op": ..., "p": [parameters as text or
-- null]}, applied in order, each by its state-machine function with the parameters its own
-- statement used to pass; returns their rows, each with the 1-based position of its command.
-- An op it does not know is an error (the whole batch then fails and the service applies its
-- commands one by one).
CREATE OR REPLACE FUNCTION dispatch.apply_commands(p_cmds jsonb)
RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
    i integer;
    p jsonb;
BEGIN
    FOR c, i IN SELECT x.value, x.ordinality FROM jsonb_array_elements(p_cmds) WITH ORDINALITY AS x
                 ORDER BY x.ordinality
    LOOP
        p := c -> 'p';
        CASE c ->> 'op'
        WHEN 'request_task' THEN
            RETURN QUERY SELECT i, r FROM dispatch.request_task(
                (p ->> 0)::uuid, (p ->> 1)::uuid, (p ->> 2)::uuid, (p ->> 3)::uuid,
                (p ->> 4)::uuid, p ->> 5, (p ->> 6)::integer, (p ->> 7)::integer,
                (p ->> 8)::timestamptz) r;
        WHEN 'start_task' THEN
            RETURN QUERY SELECT i, r FROM dispatch.start_task((p ->> 0)::uuid, (p ->> 1)::uuid) r;
        WHEN 'report_progress' THEN
            RETURN QUERY SELECT i, r FROM dispatch.report_progress(
                (p ->> 0)::uuid, (p ->> 1)::uuid, (p ->> 2)::bigint, p ->> 3) r;
        WHEN 'finish_task' THEN
            RETURN QUERY SELECT i, r FROM dispatch.finish_task(
                (p ->> 0)::uuid, (p ->> 1)::uuid, p ->> 2, p ->> 3, p ->> 4) r;
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
END $$;
COMMENT ON FUNCTION dispatch.apply_commands(jsonb) IS
    'Applies a batch of task commands and runtime events ([{"op", "p": [text parameters]}]) in order, each by its state-machine function; returns each function''s rows with the position of its command.';
