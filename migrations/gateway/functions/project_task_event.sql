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
-- A task's events in one batch change its row once, not once each (issue 17: a row version, its
-- index entries and WAL records per event): only an event newer than every one before it in
-- the batch can apply, those apply one by one from the first newer than the row, and a run of
-- them is folded into the one row change that applying them in turn would make (the last
-- event's status and version, the last non-empty lease, result, failure, dispatch and end, the
-- first start, the claim cleared when the run holds a dispatch). A run stops before a dispatch
-- that follows an end or a requeue, so that the end's token deletion sees its own claim.
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
    tid uuid;
    tev jsonb[];
    tord bigint[];
    recs jsonb[];     -- the task's events that can change its row: each newer than all before it
    rord bigint[];
    e jsonb;
    d jsonb;
    o bigint;
    v bigint;
    top bigint;
    n int;
    k int;
    j int;
    i int;
    s text;
    waiting boolean;
    at timestamptz;
    claimed boolean;
    new_seq bigint;
    -- recs[k..j] folded: what applying them one by one would leave in the row
    f_rt uuid; f_status text; f_version bigint; f_attempt integer; f_lease timestamptz;
    f_result text; f_failure text; f_wait text; f_dispatched timestamptz;
    f_started timestamptz; f_completed timestamptz; f_clear boolean; f_ended boolean;
BEGIN
    FOR tid, tev, tord IN
        SELECT (x.value -> 'data' ->> 'task_id')::uuid, array_agg(x.value ORDER BY x.ordinality),
               array_agg(x.ordinality ORDER BY x.ordinality)
          FROM jsonb_array_elements(evs) WITH ORDINALITY AS x
         GROUP BY 1 ORDER BY 1
    LOOP
        recs := '{}';
        rord := '{}';
        top := NULL;
        FOR i IN 1 .. array_length(tev, 1) LOOP
            e := tev[i];
            d := e -> 'data';
            o := tord[i];
            logged[o] := 1;
            IF e ->> 'type' = 'multica.task.progress.v1' THEN
                IF d ? 'seq' THEN
                    INSERT INTO gateway.task_progress (task_id, seq, text)
                    VALUES (tid, (d ->> 'seq')::bigint, coalesce(d ->> 'text', ''))
                    ON CONFLICT DO NOTHING;
                    IF NOT FOUND THEN
                        logged[o] := 0; -- the gateway kept and logged this report: the echo of its liveness mark
                    END IF;
                END IF;
                CONTINUE;
            END IF;
            -- An event no newer than one before it in the batch never applies, whatever the
            -- row holds: the one before applied (and raised the version past it) or the row
            -- was newer than both.
            v := (d ->> 'version')::bigint;
            IF top IS NULL OR v > top THEN
                recs := recs || e;
                rord := rord || o;
                top := v;
            END IF;
        END LOOP;
        -- The records apply one by one exactly from the first that is newer than the row
        -- (their versions rise). A run of them is folded into one row change: the run from k
        -- up to j, stopped before a dispatch that follows an end or a requeue (whether that
        -- end deleted the task tokens depends on the claim the dispatch then clears).
        n := coalesce(array_length(recs, 1), 0);
        k := 1;
        WHILE k <= n LOOP
            f_attempt := 0; f_lease := NULL; f_result := NULL; f_failure := NULL;
            f_dispatched := NULL; f_started := NULL; f_completed := NULL;
            f_clear := false; f_ended := false;
            j := k;
            LOOP
                e := recs[j];
                d := e -> 'data';
                s := d ->> 'status';
                waiting := e ->> 'type' = 'multica.task.waiting.v1';
                at := coalesce((d ->> 'at')::timestamptz, (e ->> 'time')::timestamptz);
                f_rt := (d ->> 'runtime_id')::uuid;
                f_status := s;
                f_version := (d ->> 'version')::bigint;
                f_attempt := greatest(f_attempt, coalesce((d ->> 'attempt')::integer, 0));
                f_lease := coalesce((d ->> 'lease_until')::timestamptz, f_lease);
                f_result := coalesce(d ->> 'result', f_result);
                IF waiting THEN
                    f_wait := d ->> 'reason';
                ELSE
                    f_wait := NULL;
                    f_failure := coalesce(d ->> 'reason', f_failure);
                END IF;
                IF s = 'dispatched' THEN
                    f_dispatched := coalesce(at, f_dispatched);
                    f_clear := true;
                ELSIF s = 'running' THEN
                    f_started := coalesce(f_started, at);
                ELSIF s IN ('completed', 'failed', 'cancelled', 'deleted') THEN
                    f_completed := coalesce(at, f_completed);
                END IF;
                f_ended := f_ended OR s IN ('completed', 'failed', 'cancelled', 'deleted', 'queued');
                EXIT WHEN j = n OR (f_ended AND recs[j + 1] -> 'data' ->> 'status' = 'dispatched');
                j := j + 1;
            END LOOP;
            d := recs[k] -> 'data';
            INSERT INTO gateway.tasks AS t (task_id, workspace_id, issue_id, agent_id, runtime_id,
                                            status, version, attempt, lease_until, result,
                                            failure_reason, wait_reason, dispatched_at, started_at,
                                            completed_at, updated_at)
            VALUES (tid, (d ->> 'workspace_id')::uuid, (d ->> 'issue_id')::uuid,
                    (d ->> 'agent_id')::uuid, f_rt, f_status, f_version, f_attempt, f_lease,
                    f_result, f_failure, f_wait, f_dispatched, f_started, f_completed, now())
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
                   claimed_at = CASE WHEN f_clear THEN NULL ELSE t.claimed_at END,
                   claim_until = CASE WHEN f_clear THEN NULL ELSE t.claim_until END,
                   claimed_by = CASE WHEN f_clear THEN NULL ELSE t.claimed_by END,
                   reported = CASE WHEN f_clear THEN NULL ELSE t.reported END,
                   updated_at = now()
             WHERE t.version < (d ->> 'version')::bigint
            RETURNING t.claimed_at IS NOT NULL INTO claimed;
            IF FOUND THEN
                FOR i IN k .. j LOOP
                    IF recs[i] ->> 'type' = 'multica.task.started.v1' THEN
                        logged[rord[i]] := 2;
                    END IF;
                END LOOP;
                -- claimed: the task was claimed since its last dispatch and the run holds no
                -- dispatch (a dispatch in it comes before any end: see above).
                IF claimed AND f_ended THEN
                    DELETE FROM gateway.task_tokens WHERE task_id = tid;
                END IF;
                k := j + 1;
            ELSE
                -- The row is at recs[k]'s version or newer: go on from the first record past it.
                SELECT t.version INTO v FROM gateway.tasks t WHERE t.task_id = tid;
                k := k + 1;
                WHILE k <= n AND (recs[k] -> 'data' ->> 'version')::bigint <= v LOOP
                    k := k + 1;
                END LOOP;
            END IF;
        END LOOP;
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
    'Applies a task event (or a JSON array of them, in order) to the read model by version, a task''s events of one call folded into one row change (TaskWaiting sets the wait reason, any other event clears it; clearing the claim of a new dispatch, deleting the task tokens of a claimed task that ended or was requeued; TaskProgressReported only to task_progress and, unless the gateway kept it already, the log; after TaskStarted the progress reported before it), logs it once, the log last under its lock; no NOTIFY (listeners poll the log).';

