-- The task state machine as functions: one call per command, per dispatch round and per sweep.
-- Each locks the rows it changes, checks the move against dispatch.state_machine, bumps the
-- task's version, logs the change in dispatch.task_transitions and returns one
-- dispatch.task_change row per task it looked at. The service turns applied rows into task
-- events and writes them to dispatch.outbox before it commits the same transaction.

-- RFC 3339 in UTC with microseconds, the form every Multica event uses.
CREATE FUNCTION dispatch.rfc3339(p_ts timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
COMMENT ON FUNCTION dispatch.rfc3339(timestamptz) IS 'Formats a time as RFC 3339 UTC with microseconds.';

-- Logs an applied change of t (already updated) and describes it for the event.
CREATE FUNCTION dispatch.record(t dispatch.agent_task_queue, p_from text, p_event text,
                                p_reason text, p_old_runtime uuid DEFAULT NULL,
                                p_seq bigint DEFAULT NULL, p_text text DEFAULT NULL)
RETURNS dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    c dispatch.task_change;
    v_at timestamptz := clock_timestamp();
    v_status text := CASE WHEN p_event = 'deleted' THEN 'deleted' ELSE t.status END;
BEGIN
    INSERT INTO dispatch.task_transitions (task_id, from_status, to_status, event, version,
                                           runtime_id, old_runtime_id, reason, at)
    VALUES (t.task_id, p_from, v_status, p_event, t.version, t.runtime_id, p_old_runtime,
            p_reason, v_at);
    c.outcome := 'applied';
    c.event := p_event;
    c.task_id := t.task_id;
    c.workspace_id := t.workspace_id;
    c.agent_id := t.agent_id;
    c.runtime_id := t.runtime_id;
    c.issue_id := t.issue_id;
    c.version := t.version;
    c.status := v_status;
    c.from_status := p_from;
    c.attempt := t.attempt;
    IF p_event = 'dispatched' THEN
        c.lease_until := dispatch.rfc3339(t.lease_until);
        c.waited_ms := extract(epoch FROM t.dispatched_at - t.queued_at) * 1000;
    END IF;
    c.seq := p_seq;
    c.text := p_text;
    IF p_event = 'completed' THEN
        c.result := t.result;
    END IF;
    c.reason := p_reason;
    c.old_runtime_id := p_old_runtime;
    c.at := dispatch.rfc3339(v_at);
    RETURN c;
END $$;
COMMENT ON FUNCTION dispatch.record(dispatch.agent_task_queue, text, text, text, uuid, bigint, text) IS
    'Logs an applied change in task_transitions and returns it as a task_change row.';

-- A command the state machine does not accept, or one that changes nothing.
CREATE FUNCTION dispatch.not_applied(p_outcome text, t dispatch.agent_task_queue, p_task uuid,
                                     p_event text, p_reason text)
RETURNS dispatch.task_change LANGUAGE plpgsql STABLE AS $$
DECLARE
    c dispatch.task_change;
BEGIN
    c.outcome := p_outcome;
    c.event := p_event;
    c.task_id := p_task;
    c.workspace_id := t.workspace_id;
    c.agent_id := t.agent_id;
    c.runtime_id := t.runtime_id;
    c.issue_id := t.issue_id;
    c.version := t.version;
    c.from_status := t.status;
    c.status := CASE WHEN p_event = 'deleted' THEN 'deleted'
                     ELSE coalesce((SELECT min(m.to_status) FROM dispatch.state_machine m
                                     WHERE m.event = p_event), p_event) END;
    c.attempt := t.attempt;
    c.reason := p_reason;
    c.at := dispatch.rfc3339(clock_timestamp());
    RETURN c;
END $$;
COMMENT ON FUNCTION dispatch.not_applied(text, dispatch.agent_task_queue, uuid, text, text) IS
    'Describes a refused command (outcome refused) or a duplicate (outcome noop) for the service to log.';

-- Checks that the task exists, is not deleted, is held by p_runtime (when given) and that
-- the state machine allows p_event from its status. NULL when it may proceed.
CREATE FUNCTION dispatch.check_move(t dispatch.agent_task_queue, p_task uuid, p_runtime uuid,
                                    p_event text)
RETURNS dispatch.task_change LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF t.task_id IS NULL THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'unknown_task');
    END IF;
    IF t.deleted_at IS NOT NULL THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'deleted');
    END IF;
    IF p_runtime IS NOT NULL AND t.runtime_id <> p_runtime THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'runtime_mismatch');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dispatch.state_machine m
                    WHERE m.from_status = t.status AND m.event = p_event) THEN
        RETURN dispatch.not_applied('refused', t, p_task, p_event, 'illegal_transition');
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION dispatch.check_move(dispatch.agent_task_queue, uuid, uuid, text) IS
    'NULL when the move is allowed, else the refusal (unknown_task, deleted, runtime_mismatch, illegal_transition).';

-- Sends a dispatched or running task back to the queue for another attempt.
CREATE FUNCTION dispatch.requeue(t dispatch.agent_task_queue, p_reason text)
RETURNS dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    v_from text := t.status;
    v_now timestamptz := clock_timestamp();
BEGIN
    UPDATE dispatch.agent_task_queue
       SET status = 'queued', version = version + 1, attempt = attempt + 1, queued_at = v_now,
           lease_until = NULL, started_at = NULL, last_progress_at = NULL,
           last_progress_seq = NULL, updated_at = v_now
     WHERE task_id = t.task_id
    RETURNING * INTO t;
    RETURN dispatch.record(t, v_from, 'requeued', p_reason);
END $$;
COMMENT ON FUNCTION dispatch.requeue(dispatch.agent_task_queue, text) IS
    'Requeues a locked dispatched or running task (attempt + 1) and logs it.';

-- Moves a locked task to a terminal status: p_event is completed, failed or cancelled.
CREATE FUNCTION dispatch.terminate(t dispatch.agent_task_queue, p_event text, p_reason text,
                                   p_result text)
RETURNS dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    v_from text := t.status;
    v_now timestamptz := clock_timestamp();
BEGIN
    UPDATE dispatch.agent_task_queue
       SET status = p_event, version = version + 1, completed_at = v_now, lease_until = NULL,
           result = p_result, failure_reason = p_reason, updated_at = v_now
     WHERE task_id = t.task_id
    RETURNING * INTO t;
    RETURN dispatch.record(t, v_from, p_event, p_reason);
END $$;
COMMENT ON FUNCTION dispatch.terminate(dispatch.agent_task_queue, text, text, text) IS
    'Completes, fails or cancels a locked task, setting completed_at, and logs it.';

-- Creates or updates an agent, last writer (by command time) wins for runtime and concurrency.
-- A command that changes nothing writes nothing: the row lock an update takes would serialise
-- every batch that names a busy agent and make dispatch rounds skip it.
CREATE FUNCTION dispatch.upsert_agent(p_agent uuid, p_workspace uuid, p_runtime uuid,
                                      p_max integer, p_at timestamptz)
RETURNS dispatch.agents LANGUAGE plpgsql AS $$
DECLARE
    a dispatch.agents;
BEGIN
    SELECT * INTO a FROM dispatch.agents WHERE agent_id = p_agent;
    IF FOUND AND (a.described_at > p_at
                  OR (a.workspace_id = p_workspace AND a.runtime_id = p_runtime
                      AND a.max_concurrent_tasks = coalesce(p_max, a.max_concurrent_tasks))) THEN
        RETURN a;
    END IF;
    INSERT INTO dispatch.agents AS g (agent_id, workspace_id, runtime_id, max_concurrent_tasks,
                                      described_at)
    VALUES (p_agent, p_workspace, p_runtime, coalesce(p_max, 1), p_at)
    ON CONFLICT (agent_id) DO UPDATE SET
        workspace_id = CASE WHEN EXCLUDED.described_at >= g.described_at
                            THEN EXCLUDED.workspace_id ELSE g.workspace_id END,
        runtime_id = CASE WHEN EXCLUDED.described_at >= g.described_at
                          THEN EXCLUDED.runtime_id ELSE g.runtime_id END,
        max_concurrent_tasks = CASE WHEN EXCLUDED.described_at >= g.described_at
                                    THEN coalesce(p_max, g.max_concurrent_tasks)
                                    ELSE g.max_concurrent_tasks END,
        described_at = greatest(g.described_at, EXCLUDED.described_at),
        updated_at = now()
    RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION dispatch.upsert_agent(uuid, uuid, uuid, integer, timestamptz) IS
    'Records an agent as a command describes it; a command older than the newest one applied, or one that changes nothing, writes nothing.';

-- TaskRequested: a new task joins the queue (a known task id changes nothing).
CREATE FUNCTION dispatch.request_task(p_task uuid, p_workspace uuid, p_agent uuid,
                                      p_runtime uuid, p_issue uuid, p_title text,
                                      p_priority integer, p_agent_max integer,
                                      p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    a dispatch.agents;
    t dispatch.agent_task_queue;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task;
    IF FOUND THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'queued', 'duplicate');
        RETURN;
    END IF;
    a := dispatch.upsert_agent(p_agent, p_workspace, p_runtime, p_agent_max, p_at);
    -- The task follows the agent: its runtime is the agent's newest, which may come from a
    -- later AgentRuntimeChanged consumed first.
    INSERT INTO dispatch.agent_task_queue (task_id, workspace_id, agent_id, runtime_id, issue_id,
                                           status, version, attempt, priority, title, queued_at,
                                           created_at, updated_at)
    VALUES (p_task, a.workspace_id, p_agent, a.runtime_id, p_issue, 'queued', 1, 1,
            coalesce(p_priority, 0), p_title, v_now, v_now, v_now)
    ON CONFLICT (task_id) DO NOTHING
    RETURNING * INTO t;
    IF NOT FOUND THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'queued', 'duplicate');
        RETURN;
    END IF;
    RETURN NEXT dispatch.record(t, NULL, 'queued', NULL);
END $$;
COMMENT ON FUNCTION dispatch.request_task(uuid, uuid, uuid, uuid, uuid, text, integer, integer, timestamptz) IS
    'TaskRequested: inserts the task as queued (version 1) and records the agent; a known task id is a no-op.';

-- TaskStartReported: dispatched -> running, only from the runtime holding the task.
CREATE FUNCTION dispatch.start_task(p_task uuid, p_runtime uuid)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, p_runtime, 'started');
    IF r.outcome IS NOT NULL THEN
        RETURN NEXT r;
        RETURN;
    END IF;
    UPDATE dispatch.agent_task_queue
       SET status = 'running', version = version + 1, lease_until = NULL, started_at = v_now,
           last_progress_at = v_now, last_progress_seq = NULL, updated_at = v_now
     WHERE task_id = p_task
    RETURNING * INTO t;
    RETURN NEXT dispatch.record(t, 'dispatched', 'started', NULL);
END $$;
COMMENT ON FUNCTION dispatch.start_task(uuid, uuid) IS
    'TaskStartReported: dispatched -> running; refused unless p_runtime holds the task.';

-- TaskProgressReported: a running task's progress; a sequence number already seen is a no-op.
CREATE FUNCTION dispatch.report_progress(p_task uuid, p_runtime uuid, p_seq bigint, p_text text)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, p_runtime, 'progress');
    IF r.outcome IS NOT NULL THEN
        RETURN NEXT r;
        RETURN;
    END IF;
    IF t.last_progress_seq IS NOT NULL AND p_seq <= t.last_progress_seq THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'progress', 'duplicate');
        RETURN;
    END IF;
    UPDATE dispatch.agent_task_queue
       SET version = version + 1, last_progress_seq = p_seq, last_progress_at = v_now,
           updated_at = v_now
     WHERE task_id = p_task
    RETURNING * INTO t;
    RETURN NEXT dispatch.record(t, 'running', 'progress', NULL, NULL, p_seq, p_text);
END $$;
COMMENT ON FUNCTION dispatch.report_progress(uuid, uuid, bigint, text) IS
    'TaskProgressReported: records progress of a running task held by p_runtime; seq at or below the last one is a no-op.';

-- TaskCompletionReported / TaskFailureReported: running -> completed | failed.
CREATE FUNCTION dispatch.finish_task(p_task uuid, p_runtime uuid, p_event text, p_result text,
                                     p_reason text)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
BEGIN
    IF p_event NOT IN ('completed', 'failed') THEN
        RAISE EXCEPTION 'finish_task: event must be completed or failed, got %', p_event;
    END IF;
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, p_runtime, p_event);
    IF r.outcome IS NOT NULL THEN
        RETURN NEXT r;
        RETURN;
    END IF;
    RETURN NEXT dispatch.terminate(t, p_event, p_reason, p_result);
END $$;
COMMENT ON FUNCTION dispatch.finish_task(uuid, uuid, text, text, text) IS
    'TaskCompletionReported (completed, with result) or TaskFailureReported (failed, with reason) from the runtime holding the task.';

-- TaskCancelRequested: cancels an unfinished task; with p_delete also marks it deleted (a
-- terminal task too), which emits TaskDeleted with the next version.
CREATE FUNCTION dispatch.cancel_task(p_task uuid, p_reason text, p_delete boolean)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    r dispatch.task_change;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task FOR UPDATE;
    r := dispatch.check_move(t, p_task, NULL, 'cancelled');
    IF r.outcome IS NULL THEN
        r := dispatch.terminate(t, 'cancelled', coalesce(p_reason, 'cancel_requested'), NULL);
        RETURN NEXT r;
        SELECT * INTO t FROM dispatch.agent_task_queue WHERE task_id = p_task;
    ELSIF p_delete AND r.reason = 'illegal_transition' THEN
        NULL; -- a finished task can still be deleted
    ELSIF p_delete AND r.reason = 'deleted' THEN
        RETURN NEXT dispatch.not_applied('noop', t, p_task, 'deleted', 'duplicate');
        RETURN;
    ELSE
        RETURN NEXT r;
        RETURN;
    END IF;
    IF p_delete THEN
        UPDATE dispatch.agent_task_queue
           SET version = version + 1, deleted_at = v_now, updated_at = v_now
         WHERE task_id = p_task
        RETURNING * INTO t;
        RETURN NEXT dispatch.record(t, t.status, 'deleted', coalesce(p_reason, 'deleted'));
    END IF;
END $$;
COMMENT ON FUNCTION dispatch.cancel_task(uuid, text, boolean) IS
    'TaskCancelRequested: queued/dispatched/running -> cancelled; with p_delete the task is also marked deleted (TaskDeleted), even when it had finished.';

-- AgentRuntimeChanged: the agent's unfinished tasks follow it to its (newest) runtime.
CREATE FUNCTION dispatch.change_agent_runtime(p_agent uuid, p_workspace uuid, p_runtime uuid,
                                              p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    a dispatch.agents;
    t dispatch.agent_task_queue;
    v_from text;
    v_old uuid;
    v_now timestamptz;
BEGIN
    a := dispatch.upsert_agent(p_agent, p_workspace, p_runtime, NULL, p_at);
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE agent_id = p_agent AND status IN ('queued', 'dispatched', 'running')
           AND runtime_id <> a.runtime_id
         ORDER BY created_at, task_id
           FOR UPDATE
    LOOP
        v_from := t.status;
        v_old := t.runtime_id;
        v_now := clock_timestamp();
        UPDATE dispatch.agent_task_queue
           SET runtime_id = a.runtime_id, workspace_id = a.workspace_id, status = 'queued',
               version = version + 1,
               queued_at = CASE WHEN status = 'queued' THEN queued_at ELSE v_now END,
               lease_until = NULL, started_at = NULL, last_progress_at = NULL,
               last_progress_seq = NULL, updated_at = v_now
         WHERE task_id = t.task_id
        RETURNING * INTO t;
        RETURN NEXT dispatch.record(t, v_from, 'reassigned', 'agent_runtime_changed', v_old);
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.change_agent_runtime(uuid, uuid, uuid, timestamptz) IS
    'AgentRuntimeChanged: moves the agent''s unfinished tasks to its runtime (queued stay queued, dispatched and running are requeued there), one TaskReassigned each.';

-- RuntimeRegistered / RuntimeHeartbeat: the runtime is alive (an older event changes nothing).
CREATE FUNCTION dispatch.runtime_seen(p_runtime uuid, p_workspace uuid, p_max integer,
                                      p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dispatch.runtimes AS r (runtime_id, workspace_id, max_concurrency, last_seen_at,
                                        last_event_at)
    VALUES (p_runtime, p_workspace, coalesce(p_max, 1), least(p_at, clock_timestamp()), p_at)
    ON CONFLICT (runtime_id) DO UPDATE SET
        workspace_id = EXCLUDED.workspace_id,
        max_concurrency = coalesce(p_max, r.max_concurrency),
        last_seen_at = greatest(r.last_seen_at, EXCLUDED.last_seen_at),
        offline_at = NULL,
        last_event_at = EXCLUDED.last_event_at,
        updated_at = now()
    WHERE r.last_event_at <= EXCLUDED.last_event_at;
    RETURN;
END $$;
COMMENT ON FUNCTION dispatch.runtime_seen(uuid, uuid, integer, timestamptz) IS
    'RuntimeRegistered or RuntimeHeartbeat: records capacity and liveness; the runtime is online again.';

-- RuntimeOffline: the runtime is gone; its dispatched (not yet started) tasks are requeued.
-- Running tasks stay: the daemon may still report them, and RUNNING_TIMEOUT reclaims them if not.
CREATE FUNCTION dispatch.runtime_offline(p_runtime uuid, p_workspace uuid, p_at timestamptz)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    v_at timestamptz := least(p_at, clock_timestamp());
BEGIN
    INSERT INTO dispatch.runtimes AS r (runtime_id, workspace_id, max_concurrency, last_seen_at,
                                        offline_at, last_event_at)
    VALUES (p_runtime, p_workspace, 1, v_at, v_at, p_at)
    ON CONFLICT (runtime_id) DO UPDATE SET
        offline_at = EXCLUDED.offline_at, last_event_at = EXCLUDED.last_event_at,
        updated_at = now()
    WHERE r.last_event_at <= EXCLUDED.last_event_at;
    IF NOT FOUND THEN
        RETURN; -- an event older than the newest applied one
    END IF;
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE runtime_id = p_runtime AND status = 'dispatched'
         ORDER BY created_at, task_id
           FOR UPDATE
    LOOP
        RETURN NEXT dispatch.requeue(t, 'runtime_offline');
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.runtime_offline(uuid, uuid, timestamptz) IS
    'RuntimeOffline: marks the runtime offline and requeues its dispatched tasks.';

-- One dispatch round. For each online runtime with queued work whose row this caller can lock
-- (SKIP LOCKED: a runtime another replica is dispatching for is skipped, so its capacity is
-- only ever counted by one transaction at a time), the agents are locked the same way, and the
-- oldest queued tasks are dispatched within the runtime's free capacity, each agent's
-- max_concurrent_tasks, and at most one active task per (agent, issue).
CREATE FUNCTION dispatch.dispatch_tasks(p_lease interval, p_online_window interval,
                                        p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    rt record;
    t dispatch.agent_task_queue;
    v_agents uuid[];
    v_free integer;
    v_left integer := p_limit;
    v_now timestamptz;
BEGIN
    FOR rt IN
        SELECT r.runtime_id, r.max_concurrency
          FROM dispatch.runtimes r
         WHERE r.offline_at IS NULL AND r.last_seen_at > clock_timestamp() - p_online_window
           AND EXISTS (SELECT 1 FROM dispatch.agent_task_queue q
                        WHERE q.runtime_id = r.runtime_id AND q.status = 'queued')
         ORDER BY r.runtime_id
           FOR UPDATE OF r SKIP LOCKED
    LOOP
        EXIT WHEN v_left <= 0;
        -- Counted under the runtime's lock, in a statement that starts after it was taken:
        -- every earlier dispatch for this runtime has committed and is seen here.
        SELECT rt.max_concurrency - count(*) INTO v_free
          FROM dispatch.agent_task_queue
         WHERE runtime_id = rt.runtime_id AND status IN ('dispatched', 'running');
        CONTINUE WHEN v_free <= 0;
        -- An agent's tasks normally sit on one runtime, but a move in flight can leave them on
        -- two: the agent's lock keeps its own limit exact even then.
        SELECT coalesce(array_agg(l.agent_id), '{}') INTO v_agents
          FROM (SELECT a.agent_id FROM dispatch.agents a
                 WHERE a.agent_id IN (SELECT q.agent_id FROM dispatch.agent_task_queue q
                                       WHERE q.runtime_id = rt.runtime_id AND q.status = 'queued')
                 ORDER BY a.agent_id
                   FOR UPDATE SKIP LOCKED) l;
        FOR t IN
            SELECT q.* FROM dispatch.agent_task_queue q
             WHERE q.task_id IN (
                   SELECT e.task_id
                     FROM (SELECT c.task_id, c.created_at, c.free,
                                  row_number() OVER (PARTITION BY c.agent_id
                                                     ORDER BY c.created_at, c.task_id) AS agent_rank
                             FROM (SELECT w.task_id, w.created_at, w.agent_id, w.issue_id,
                                          a.max_concurrent_tasks
                                          - (SELECT count(*) FROM dispatch.agent_task_queue x
                                              WHERE x.agent_id = w.agent_id
                                                AND x.status IN ('dispatched', 'running')) AS free,
                                          row_number() OVER (PARTITION BY w.agent_id, w.issue_id
                                                             ORDER BY w.created_at, w.task_id) AS issue_rank
                                     FROM dispatch.agent_task_queue w
                                     JOIN dispatch.agents a ON a.agent_id = w.agent_id
                                    WHERE w.runtime_id = rt.runtime_id AND w.status = 'queued'
                                      AND w.agent_id = ANY (v_agents)) c
                            WHERE c.issue_id IS NULL
                               OR (c.issue_rank = 1
                                   AND NOT EXISTS (SELECT 1 FROM dispatch.agent_task_queue y
                                                    WHERE y.agent_id = c.agent_id
                                                      AND y.issue_id = c.issue_id
                                                      AND y.status IN ('dispatched', 'running')))) e
                    WHERE e.agent_rank <= e.free
                    ORDER BY e.created_at, e.task_id
                    LIMIT least(v_free, v_left))
               AND q.status = 'queued' AND q.runtime_id = rt.runtime_id
             ORDER BY q.created_at, q.task_id
               FOR UPDATE OF q SKIP LOCKED
        LOOP
            v_now := clock_timestamp();
            UPDATE dispatch.agent_task_queue
               SET status = 'dispatched', version = version + 1, dispatched_at = v_now,
                   lease_until = v_now + p_lease, updated_at = v_now
             WHERE task_id = t.task_id
            RETURNING * INTO t;
            v_left := v_left - 1;
            RETURN NEXT dispatch.record(t, 'queued', 'dispatched', NULL);
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.dispatch_tasks(interval, interval, integer) IS
    'Dispatches the oldest queued tasks to online runtimes within runtime capacity, agent concurrency and one active task per (agent, issue); safe to run from several replicas at once.';

-- Timer: a dispatched task whose lease ran out (the runtime never reported the start).
CREATE FUNCTION dispatch.expire_leases(p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
BEGIN
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE status = 'dispatched' AND lease_until < clock_timestamp()
         ORDER BY lease_until
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        RETURN NEXT dispatch.requeue(t, 'lease_expired');
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.expire_leases(integer) IS
    'Requeues dispatched tasks whose lease expired (no start reported in time).';

-- Timer: a running task with neither progress nor a heartbeat of its runtime for p_timeout is
-- requeued while attempts remain, else failed.
CREATE FUNCTION dispatch.time_out_running(p_timeout interval, p_max_attempts integer,
                                          p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
    v_cutoff timestamptz := clock_timestamp() - p_timeout;
BEGIN
    FOR t IN
        SELECT q.* FROM dispatch.agent_task_queue q
          LEFT JOIN dispatch.runtimes r ON r.runtime_id = q.runtime_id
         WHERE q.status = 'running' AND q.last_progress_at < v_cutoff
           AND (r.runtime_id IS NULL OR r.offline_at IS NOT NULL OR r.last_seen_at < v_cutoff)
         ORDER BY q.last_progress_at
         LIMIT p_limit
           FOR UPDATE OF q SKIP LOCKED
    LOOP
        IF t.attempt < p_max_attempts THEN
            RETURN NEXT dispatch.requeue(t, 'running_timeout');
        ELSE
            RETURN NEXT dispatch.terminate(t, 'failed', 'running_timeout', NULL);
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.time_out_running(interval, integer, integer) IS
    'Requeues (attempt < p_max_attempts) or fails running tasks silent for p_timeout: no progress and no heartbeat from their runtime.';

-- Timer: a task queued for longer than p_ttl is cancelled with reason expired.
CREATE FUNCTION dispatch.expire_queued(p_ttl interval, p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    t dispatch.agent_task_queue;
BEGIN
    FOR t IN
        SELECT * FROM dispatch.agent_task_queue
         WHERE status = 'queued' AND queued_at < clock_timestamp() - p_ttl
         ORDER BY queued_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        RETURN NEXT dispatch.terminate(t, 'cancelled', 'expired', NULL);
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.expire_queued(interval, integer) IS
    'Cancels (reason expired) tasks that waited in the queue longer than p_ttl.';

-- Timer: a runtime silent past the online window goes offline like on RuntimeOffline.
CREATE FUNCTION dispatch.sweep_silent_runtimes(p_window interval, p_limit integer)
RETURNS SETOF dispatch.task_change LANGUAGE plpgsql AS $$
DECLARE
    rt record;
    t dispatch.agent_task_queue;
BEGIN
    FOR rt IN
        SELECT runtime_id FROM dispatch.runtimes
         WHERE offline_at IS NULL AND last_seen_at < clock_timestamp() - p_window
         ORDER BY last_seen_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE dispatch.runtimes SET offline_at = clock_timestamp(), updated_at = now()
         WHERE runtime_id = rt.runtime_id;
        FOR t IN
            SELECT * FROM dispatch.agent_task_queue
             WHERE runtime_id = rt.runtime_id AND status = 'dispatched'
             ORDER BY created_at, task_id
               FOR UPDATE SKIP LOCKED
        LOOP
            RETURN NEXT dispatch.requeue(t, 'runtime_silent');
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION dispatch.sweep_silent_runtimes(interval, integer) IS
    'Marks runtimes without a heartbeat for p_window offline and requeues their dispatched tasks.';
