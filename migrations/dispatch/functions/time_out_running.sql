-- Timer: a running task with neither progress nor a heartbeat of its runtime for p_timeout is
-- requeued while attempts remain, else failed.
CREATE OR REPLACE FUNCTION dispatch.time_out_running(p_timeout interval, p_max_attempts integer,
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
