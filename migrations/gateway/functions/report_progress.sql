-- PL/pgSQL, not SQL: a SQL function the planner does not inline is planned again at every
-- call (0.7 ms a call for log_progress in the bench), PL/pgSQL keeps its plans per session.

-- The task's row goes in as JSON or by id, not as gateway.tasks: a function taking a table's
-- row type depends on the table, and the migrations' way down drops tables, not functions.

-- The TaskProgressReported event (multica.task.progress.v1) the gateway logs for a progress
-- report of task t (its gateway.tasks row as JSON), as the dispatcher built it before progress
-- stayed in the gateway: the task's attribution, status running, and the version of its start
-- (a report is no change of state; the log tells two reports apart by their seq).
CREATE OR REPLACE FUNCTION gateway.progress_event(t jsonb, p_seq bigint, p_text text,
                                                  p_at timestamptz)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN jsonb_build_object(
        'specversion', '1.0', 'id', gen_random_uuid(), 'type', 'multica.task.progress.v1',
        'source', 'api-gateway', 'subject', t -> 'task_id',
        'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'datacontenttype', 'application/json',
        'data', jsonb_build_object(
            'task_id', t -> 'task_id', 'workspace_id', t -> 'workspace_id',
            'agent_id', t -> 'agent_id', 'runtime_id', t -> 'runtime_id',
            'issue_id', t -> 'issue_id', 'version', t -> 'version', 'status', 'running',
            'attempt', t -> 'attempt', 'seq', p_seq, 'text', p_text,
            'at', to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
END $$;
COMMENT ON FUNCTION gateway.progress_event(jsonb, bigint, text, timestamptz) IS
    'The multica.task.progress.v1 event of a progress report of task t (its gateway.tasks row as JSON), at the version of its start.';

-- Logs the progress of a task kept since its dispatch and not logged yet, in seq order, after
-- its start (the projection calls it for TaskStarted: a report that came before the start was
-- projected waited for it, so that watchers see the start first, as before). Called under the
-- log's lock (the projection's), as every writer of the log: a row not logged now is not logged
-- by another before the commit, so it is tested for (NOT EXISTS), without ON CONFLICT's
-- speculative insertion (one more WAL record per row).
CREATE OR REPLACE FUNCTION gateway.log_progress(p_task uuid)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t gateway.tasks;
BEGIN
    SELECT * INTO t FROM gateway.tasks WHERE task_id = p_task;
    INSERT INTO gateway.task_event_log (task_id, version, workspace_id, issue_id, runtime_id,
                                        type, event, progress_seq)
    SELECT t.task_id, t.version, t.workspace_id, t.issue_id, t.runtime_id,
           'multica.task.progress.v1',
           gateway.progress_event(to_jsonb(t), p.seq, p.text, p.created_at), p.seq
      FROM gateway.task_progress p
     WHERE p.task_id = p_task AND p.created_at >= coalesce(t.dispatched_at, '-infinity')
       AND NOT EXISTS (SELECT 1 FROM gateway.task_event_log l
                        WHERE l.task_id = p_task AND l.version = t.version
                          AND l.progress_seq = p.seq)
     ORDER BY p.seq;
END $$;
COMMENT ON FUNCTION gateway.log_progress(uuid) IS
    'Logs the progress of a task kept since its dispatch at its version, once per seq, in seq order.';

-- A daemon's progress report, once gateway.daemon_report has checked the caller and the task
-- (issue 17): kept in task_progress and logged for the WebSocket by the gateway, in the
-- report's transaction, instead of a command through the dispatcher's state machine and an
-- event back. The log row is written last (gateway.log_reported_progress, under the log's
-- lock until the commit): here when the report is applied alone, by gateway.daemon_reports
-- after its whole batch when it is one of a group commit (the setting multica.progress_later
-- says so). A report before the start was projected is logged by the projection after the
-- start. As the dispatcher did, a report of a task that ended, whose end was reported, or
-- with a seq at or below one of this dispatch changes nothing. The dispatcher still hears of
-- progress, for its running timeout, as a liveness mark: the same command, at most once per
-- task every 5 s (p_event, the command with the nil runtime). Returns 'sent' when the mark
-- was written.
CREATE OR REPLACE FUNCTION gateway.report_progress(p_task uuid, p_topic text, p_event text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d jsonb := p_event::jsonb -> 'data';
    s bigint := (d ->> 'seq')::bigint;
    t gateway.tasks;
    outcome text := 'ok';
BEGIN
    SELECT * INTO t FROM gateway.tasks WHERE task_id = p_task;
    IF t.status NOT IN ('dispatched', 'running') OR t.reported IS NOT NULL
       OR EXISTS (SELECT 1 FROM gateway.task_progress p
                   WHERE p.task_id = p_task AND p.seq >= s
                     AND p.created_at >= coalesce(t.dispatched_at, '-infinity')) THEN
        RETURN 'ok';
    END IF;
    INSERT INTO gateway.task_progress (task_id, seq, text)
    VALUES (p_task, s, coalesce(d ->> 'text', ''))
    ON CONFLICT DO NOTHING;
    IF t.status = 'running'
       AND greatest(t.started_at, t.progress_marked_at) < now() - interval '5 seconds' THEN
        UPDATE gateway.tasks SET progress_marked_at = now() WHERE task_id = p_task;
        INSERT INTO gateway.outbox (topic, key, payload)
        VALUES (p_topic, p_task::text,
                replace(p_event, '"runtime_id":"00000000-0000-0000-0000-000000000000"',
                        '"runtime_id":"' || t.runtime_id || '"'));
        outcome := 'sent';
    END IF;
    IF current_setting('multica.progress_later', true) IS DISTINCT FROM 'on' THEN
        PERFORM gateway.log_reported_progress(ARRAY[p_task], ARRAY[s]);
    END IF;
    RETURN outcome;
END $$;
COMMENT ON FUNCTION gateway.report_progress(uuid, text, text) IS
    'A progress report kept and logged by the gateway (after the start, in seq order, once per seq of a dispatch), passed on to the dispatcher as a liveness mark at most every 5 s per task.';

-- Logs the progress reports (p_task[i], p_seq[i]) kept in task_progress, in that order, for
-- the tasks running now: takes the log's lock (MC_LOCK_GATEWAY_LOG), held until the commit,
-- so it goes last in its transaction. Under the lock the task's row is read again: a start
-- the projection committed meanwhile is seen (it logged before it only what was committed),
-- and a report whose task is not running yet waits for the projection's gateway.log_progress.
-- Logging a kept report twice is a no-op (its progress_seq, tested for under the lock).
CREATE OR REPLACE FUNCTION gateway.log_reported_progress(p_task uuid[], p_seq bigint[])
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4260); -- MC_LOCK_GATEWAY_LOG
    -- One report at a time, each row by its key: a join of the arrays with the two tables was
    -- planned once, while the tables were small, as a scan of every running task (1.2 ms a
    -- call in the bench, under the lock).
    FOR k IN 1 .. coalesce(cardinality(p_task), 0) LOOP
        INSERT INTO gateway.task_event_log (task_id, version, workspace_id, issue_id,
                                            runtime_id, type, event, progress_seq)
        SELECT t.task_id, t.version, t.workspace_id, t.issue_id, t.runtime_id,
               'multica.task.progress.v1',
               gateway.progress_event(to_jsonb(t), p.seq, p.text, p.created_at), p.seq
          FROM gateway.tasks t
          JOIN gateway.task_progress p ON p.task_id = t.task_id AND p.seq = p_seq[k]
         WHERE t.task_id = p_task[k] AND t.status = 'running'
           AND p.created_at >= coalesce(t.dispatched_at, '-infinity')
           AND NOT EXISTS (SELECT 1 FROM gateway.task_event_log l
                            WHERE l.task_id = t.task_id AND l.version = t.version
                              AND l.progress_seq = p.seq);
    END LOOP;
END $$;
COMMENT ON FUNCTION gateway.log_reported_progress(uuid[], bigint[]) IS
    'Logs kept progress reports (task, seq), in order, for the tasks running now, under the log''s lock: the last writes of their transaction.';
