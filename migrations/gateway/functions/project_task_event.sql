-- Projects one task event into the read model (only when newer than what is held) and logs
-- it for WebSocket delivery; no NOTIFY (its commit takes a global lock): the projecting
-- replica kicks its own listener and the others poll the log. Returns the log seq, or NULL
-- for a replay. Given a JSON array of events, projects each in order in one call (the
-- projection's batch: one round trip, not one per event) and returns the last one's seq.
-- A new dispatch is not handed out yet and has no report (its claim and report are cleared);
-- a task that ended or went back to the queue takes its task tokens with it (only a task
-- claimed since its last dispatch can have any: the TaskWaiting events of a task that waits
-- in the queue, the bulk of the events while a queue is long, delete nothing). TaskWaiting's reason is the wait reason (kept until the next
-- event), never a failure reason. TaskProgressReported leaves the read model's row alone: it
-- would change only its version and updated_at (the text goes to task_progress, the event to
-- the log), and the row's update was a write, a new row version and a lock held against the
-- daemon's terminal report, twice per task; the row's version is that of its last change of
-- state. Progress reports are kept and logged by the gateway itself (gateway.report_progress):
-- a TaskProgressReported whose seq task_progress already holds is the echo of the liveness mark
-- the gateway sent the dispatcher, and is not logged again; the reports that came before the
-- start was projected are logged right after TaskStarted (gateway.log_progress).
-- The log is written last, under its lock (MC_LOCK_GATEWAY_LOG: one writer at a time, so
-- that seqs commit in order), held from the first log row to the commit: the read model's
-- upserts of the whole batch go first, without the lock, in task order (the report writer,
-- gateway.daemon_reports, locks its task rows in that order too, so the two cannot deadlock;
-- the lock's holder waits on no row). The log rows go in the batch's order. Every writer of
-- the log holds the lock, so a log row is tested for and inserted, not inserted ON CONFLICT.
CREATE OR REPLACE FUNCTION gateway.project_task_event(p_event jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    evs jsonb := CASE WHEN jsonb_typeof(p_event) = 'array' THEN p_event
                      ELSE jsonb_build_array(p_event) END;
    logged smallint[] := '{}';
    e jsonb;
    d jsonb;
    o bigint;
    v bigint;
    s text;
    waiting boolean;
    progress boolean;
    at timestamptz;
    claimed boolean;
    new_seq bigint;
BEGIN
    FOR e, o IN SELECT x.value, x.ordinality
                  FROM jsonb_array_elements(evs) WITH ORDINALITY AS x
                 ORDER BY (x.value -> 'data' ->> 'task_id')::uuid, x.ordinality
    LOOP
        d := e -> 'data';
        v := (d ->> 'version')::bigint;
        s := d ->> 'status';
        waiting := e ->> 'type' = 'multica.task.waiting.v1';
        progress := e ->> 'type' = 'multica.task.progress.v1';
        at := coalesce((d ->> 'at')::timestamptz, (e ->> 'time')::timestamptz);
        claimed := false;
        logged[o] := 1;
        IF NOT progress THEN
            INSERT INTO gateway.tasks AS t (task_id, workspace_id, issue_id, agent_id, runtime_id,
                                            status, version, attempt, lease_until, result,
                                            failure_reason, wait_reason, dispatched_at, started_at,
                                            completed_at, updated_at)
            VALUES ((d ->> 'task_id')::uuid, (d ->> 'workspace_id')::uuid,
                    (d ->> 'issue_id')::uuid, (d ->> 'agent_id')::uuid,
                    (d ->> 'runtime_id')::uuid, s, v,
                    coalesce((d ->> 'attempt')::integer, 0), (d ->> 'lease_until')::timestamptz,
                    d ->> 'result', CASE WHEN NOT waiting THEN d ->> 'reason' END,
                    CASE WHEN waiting THEN d ->> 'reason' END,
                    CASE WHEN s = 'dispatched' THEN at END, CASE WHEN s = 'running' THEN at END,
                    CASE WHEN s IN ('completed', 'failed', 'cancelled', 'deleted') THEN at END, now())
            ON CONFLICT (task_id) DO UPDATE
               SET runtime_id = EXCLUDED.runtime_id, status = EXCLUDED.status,
                   version = EXCLUDED.version,
                   attempt = greatest(t.attempt, EXCLUDED.attempt),
                   lease_until = coalesce(EXCLUDED.lease_until, t.lease_until),
                   result = coalesce(EXCLUDED.result, t.result),
                   failure_reason = coalesce(EXCLUDED.failure_reason, t.failure_reason),
                   wait_reason = EXCLUDED.wait_reason,
                   dispatched_at = coalesce(EXCLUDED.dispatched_at, t.dispatched_at),
                   started_at = coalesce(t.started_at, EXCLUDED.started_at),
                   completed_at = coalesce(EXCLUDED.completed_at, t.completed_at),
                   claimed_at = CASE WHEN EXCLUDED.status = 'dispatched' THEN NULL
                                    ELSE t.claimed_at END,
                   claim_until = CASE WHEN EXCLUDED.status = 'dispatched' THEN NULL
                                     ELSE t.claim_until END,
                   claimed_by = CASE WHEN EXCLUDED.status = 'dispatched' THEN NULL
                                    ELSE t.claimed_by END,
                   reported = CASE WHEN EXCLUDED.status = 'dispatched' THEN NULL
                                  ELSE t.reported END,
                   updated_at = now()
             WHERE t.version < EXCLUDED.version
            RETURNING t.claimed_at IS NOT NULL INTO claimed;
            IF FOUND AND e ->> 'type' = 'multica.task.started.v1' THEN
                logged[o] := 2;
            END IF;
            -- claimed: the update applied and the task was claimed since its last dispatch (a new
            -- dispatch clears claimed_at, but a dispatch is not among the statuses below).
            IF claimed AND s IN ('completed', 'failed', 'cancelled', 'deleted', 'queued') THEN
                DELETE FROM gateway.task_tokens WHERE task_id = (d ->> 'task_id')::uuid;
            END IF;
        END IF;
        IF progress AND d ? 'seq' THEN
            INSERT INTO gateway.task_progress (task_id, seq, text)
            VALUES ((d ->> 'task_id')::uuid, (d ->> 'seq')::bigint, coalesce(d ->> 'text', ''))
            ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                logged[o] := 0; -- the gateway kept and logged this report: the echo of its liveness mark
            END IF;
        END IF;
    END LOOP;
    PERFORM pg_advisory_xact_lock(4260); -- MC_LOCK_GATEWAY_LOG, until the commit
    FOR e, o IN SELECT x.value, x.ordinality FROM jsonb_array_elements(evs) WITH ORDINALITY AS x
                 ORDER BY x.ordinality
    LOOP
        new_seq := NULL;
        CONTINUE WHEN logged[o] = 0;
        d := e -> 'data';
        -- Logged once per (task, version, progress_seq): the lock makes this the log's only
        -- writer, so a row not there now is not written by anyone else before the commit, and
        -- the plain insert needs no speculative insertion (ON CONFLICT's: one more WAL record
        -- and a speculative lock per row).
        INSERT INTO gateway.task_event_log (task_id, version, workspace_id, issue_id, runtime_id,
                                            old_runtime_id, type, event)
        SELECT (d ->> 'task_id')::uuid, (d ->> 'version')::bigint, (d ->> 'workspace_id')::uuid,
               (d ->> 'issue_id')::uuid, (d ->> 'runtime_id')::uuid,
               (d ->> 'old_runtime_id')::uuid, e ->> 'type', e
         WHERE NOT EXISTS (SELECT 1 FROM gateway.task_event_log l
                            WHERE l.task_id = (d ->> 'task_id')::uuid
                              AND l.version = (d ->> 'version')::bigint AND l.progress_seq = -1)
        RETURNING seq INTO new_seq;
        IF logged[o] = 2 THEN
            PERFORM gateway.log_progress((d ->> 'task_id')::uuid);
        END IF;
    END LOOP;
    RETURN new_seq;
END
$$;
COMMENT ON FUNCTION gateway.project_task_event(jsonb) IS
    'Applies a task event (or a JSON array of them, in order) to the read model by version (TaskWaiting sets the wait reason, any other event clears it; clearing the claim of a new dispatch, deleting the task tokens of a claimed task that ended or was requeued; TaskProgressReported only to task_progress and, unless the gateway kept it already, the log; after TaskStarted the progress reported before it), logs it once, the log last under its lock; no NOTIFY (listeners poll the log).';

