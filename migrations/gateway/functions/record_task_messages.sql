-- Stores the messages a daemon streamed for a task (a seq already stored is kept once). Each
-- row carries its transaction's id (task_messages.xid, by default), by which every gateway
-- replica's WebSocket listener reads the new ones once their transaction and every one before
-- it have ended (gw_task_messages_ended) and passes them on to the watchers of the task, its
-- issue and its workspace: no NOTIFY (issue 17: its commit takes a cluster-wide lock). The
-- task event log is left to the projection: another writer there would commit seqs out of
-- order, and the listeners read past the highest seq they saw. p_messages is a JSON array the
-- gateway validated. Returns how many were new.
CREATE OR REPLACE FUNCTION gateway.record_task_messages(p_task uuid, p_messages jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m jsonb;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM gateway.tasks WHERE task_id = p_task) THEN
        RETURN 0;
    END IF;
    FOR m IN SELECT value FROM jsonb_array_elements(p_messages) LOOP
        INSERT INTO gateway.task_messages (task_id, seq, type, tool, content, input, output)
        VALUES (p_task, (m ->> 'seq')::integer, m ->> 'type', m ->> 'tool', m ->> 'content',
                m -> 'input', m ->> 'output')
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION gateway.record_task_messages(uuid, jsonb) IS
    'Stores a batch of streamed task messages once per seq; the WebSocket listeners read the new ones by their transaction id (no NOTIFY).';
