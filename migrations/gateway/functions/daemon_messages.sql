-- A daemon's batch of streamed messages (http_messages.c) in one call: the caller's token
-- (gateway.token_user), the task as the caller may see it (not deleted, in a workspace of the
-- caller's), then gateway.record_task_messages. Returns 'unauthorized', 'not_found', or 'ok'
-- with how many messages were new.
CREATE OR REPLACE FUNCTION gateway.daemon_messages(p_hash text, p_user uuid, p_task uuid,
                                                   p_messages jsonb)
RETURNS TABLE (outcome text, stored integer) LANGUAGE plpgsql AS $$
DECLARE
    u uuid := gateway.token_user(p_hash, p_user);
BEGIN
    IF u IS NULL THEN
        outcome := 'unauthorized';
    ELSIF NOT EXISTS (SELECT 1 FROM gateway.tasks k
                       WHERE k.task_id = p_task AND k.status <> 'deleted'
                         AND gateway.is_member(k.workspace_id, u)) THEN
        outcome := 'not_found';
    ELSE
        outcome := 'ok';
        stored := gateway.record_task_messages(p_task, p_messages);
    END IF;
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION gateway.daemon_messages(text, uuid, uuid, jsonb) IS
    'A daemon''s message batch in one call: its token, the task it may see, then record_task_messages.';
