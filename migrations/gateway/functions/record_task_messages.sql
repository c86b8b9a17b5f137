-- Stores the messages a daemon streamed for a task (a seq already stored is kept once) and
-- announces the new ones on the channel multica_task_messages (payload: task, workspace,
-- issue or -, lowest and highest new seq), so that every gateway replica passes them on to
-- the WebSocket watchers of the task, its issue and its workspace. The task event log is left
-- to the projection: another writer there would commit seqs out of order, and the listeners
-- read past the highest seq they saw. p_messages is a JSON array the gateway validated.
-- Returns how many were new.
CREATE OR REPLACE FUNCTION gateway.record_task_messages(p_task uuid, p_messages jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    t gateway.tasks;
    m jsonb;
    n integer := 0;
    lo integer;
    hi integer;
    s integer;
BEGIN
    SELECT * INTO t FROM gateway.tasks WHERE task_id = p_task;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    FOR m IN SELECT value FROM jsonb_array_elements(p_messages) LOOP
        s := (m ->> 'seq')::integer;
        INSERT INTO gateway.task_messages (task_id, seq, type, tool, content, input, output)
        VALUES (p_task, s, m ->> 'type', m ->> 'tool', m ->> 'content', m -> 'input',
                m ->> 'output')
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            n := n + 1;
            lo := least(lo, s);
            hi := greatest(hi, s);
        END IF;
    END LOOP;
    IF n > 0 THEN
        PERFORM pg_notify('multica_task_messages',
                          format('%s %s %s %s %s', p_task, t.workspace_id,
                                 coalesce(t.issue_id::text, '-'), lo, hi));
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION gateway.record_task_messages(uuid, jsonb) IS
    'Stores a batch of streamed task messages once per seq and NOTIFYs multica_task_messages with the range of new ones.';
