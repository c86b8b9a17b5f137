-- What a daemon says about a task it claimed (http_daemon_tasks.c), in one call: the caller's
-- token (gateway.token_user), the task as the caller may see it, the state check, and the
-- report with its outbox row. p_kind: 'status' (read only), 'cancel_ack', 'start', 'progress',
-- 'complete', 'fail'. p_event is the command's CloudEvent for topic p_topic, built by the
-- gateway with the nil UUID for the runtime (its compact "runtime_id" member is replaced here
-- by the runtime holding the task: a daemon's text, escaped in the event, never matches);
-- NULL asks for the outcome only, writing nothing (the gateway refuses the body, but only
-- once the caller and the task pass, as the checks went before). Outcomes: 'unauthorized'
-- (401), 'not_found' (404: unknown, deleted but for cancel_ack, or not in a workspace of the
-- caller), 'conflict' (409, status says why), 'already' (200 with status: a terminal report
-- after the end or after an earlier one, a start of a running task), 'ok' (applied, or
-- nothing to write) and 'sent' (an outbox row written). A terminal report is sent once per
-- dispatch (reported), with the session and work directory it names. Progress stays in the
-- gateway (gateway.report_progress) but for a liveness mark to the dispatcher every few seconds.
CREATE OR REPLACE FUNCTION gateway.daemon_report(p_hash text, p_user uuid, p_task uuid,
                                                 p_kind text, p_topic text, p_event text,
                                                 p_session text, p_work_dir text)
RETURNS TABLE (outcome text, status text) LANGUAGE plpgsql AS $$
DECLARE
    u uuid := gateway.token_user(p_hash, p_user);
    t record;
    terminal boolean := p_kind IN ('complete', 'fail');
BEGIN
    IF u IS NULL THEN
        outcome := 'unauthorized';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT k.status, k.runtime_id, k.reported INTO t
      FROM gateway.tasks k
     WHERE k.task_id = p_task AND (k.status <> 'deleted' OR p_kind = 'cancel_ack')
       AND gateway.is_member(k.workspace_id, u);
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    status := t.status;
    outcome := 'ok';
    IF p_kind = 'status' THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_kind = 'cancel_ack' THEN
        UPDATE gateway.tasks SET reported = 'cancel_ack', reported_at = now()
         WHERE task_id = p_task AND reported IS NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    IF (terminal AND (t.status IN ('completed', 'failed', 'cancelled') OR t.reported IS NOT NULL))
       OR (p_kind = 'start' AND t.status = 'running') THEN
        outcome := 'already';
    ELSIF t.status NOT IN ('dispatched', 'running') OR (p_kind = 'start' AND t.status <> 'dispatched') THEN
        outcome := 'conflict';
    END IF;
    IF outcome <> 'ok' OR p_event IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_kind = 'progress' THEN
        outcome := gateway.report_progress(p_task, p_topic, p_event);
        RETURN NEXT;
        RETURN;
    END IF;
    IF terminal THEN
        IF p_session IS NOT NULL OR p_work_dir IS NOT NULL THEN
            UPDATE gateway.tasks SET session_id = coalesce(p_session, session_id),
                                     work_dir = coalesce(p_work_dir, work_dir)
             WHERE task_id = p_task;
        END IF;
        UPDATE gateway.tasks
           SET reported = CASE p_kind WHEN 'complete' THEN 'completed' ELSE 'failed' END,
               reported_at = now()
         WHERE task_id = p_task AND reported IS NULL;
        IF NOT FOUND THEN
            RETURN NEXT; -- an earlier report of this dispatch was sent
            RETURN;
        END IF;
    END IF;
    INSERT INTO gateway.outbox (topic, key, payload)
    VALUES (p_topic, p_task::text,
            replace(p_event, '"runtime_id":"00000000-0000-0000-0000-000000000000"',
                    '"runtime_id":"' || coalesce(t.runtime_id,
                                                 '00000000-0000-0000-0000-000000000000') || '"'));
    outcome := 'sent';
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION gateway.daemon_report(text, uuid, uuid, text, text, text, text, text) IS
    'A daemon''s report on a task in one call: its token, the task it may see, the state check, and the command in the outbox (terminal ones once per dispatch).';
