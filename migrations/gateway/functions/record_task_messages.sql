-- Stores the messages a daemon streamed for a task (a seq already stored is kept once) and
-- logs each new one for the WebSocket watchers of its task, issue and workspace, with one
-- NOTIFY. p_messages is a JSON array the gateway validated. Returns how many were new.
CREATE OR REPLACE FUNCTION gateway.record_task_messages(p_task uuid, p_messages jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    t gateway.tasks;
    m jsonb;
    n integer := 0;
BEGIN
    SELECT * INTO t FROM gateway.tasks WHERE task_id = p_task;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    FOR m IN SELECT value FROM jsonb_array_elements(p_messages) LOOP
        INSERT INTO gateway.task_messages (task_id, seq, type, tool, content, input, output)
        VALUES (p_task, (m ->> 'seq')::integer, m ->> 'type', m ->> 'tool', m ->> 'content',
                m -> 'input', m ->> 'output')
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            INSERT INTO gateway.task_event_log (task_id, version, workspace_id, issue_id,
                                                runtime_id, type, event)
            VALUES (p_task, NULL, t.workspace_id, t.issue_id, t.runtime_id, 'task.message',
                    jsonb_build_object('task_id', p_task, 'issue_id', t.issue_id) || m);
            n := n + 1;
        END IF;
    END LOOP;
    IF n > 0 THEN
        PERFORM pg_notify('multica_task_events', '');
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION gateway.record_task_messages(uuid, jsonb) IS
    'Stores a batch of streamed task messages once per seq and logs the new ones for WebSocket watchers.';
