-- One claim attempt of a tick: declares stale attempts failed, tries to insert the current
-- plan, and otherwise takes a failed recent plan (within the last hour, or two intervals when
-- that is longer) for a retry once its backoff has passed.
-- Returns the claimed row (id, plan, attempt, lease) or nothing.
CREATE OR REPLACE FUNCTION scheduler.claim_plan(p_job text, p_scope_kind text, p_scope_id text,
                                     p_interval interval, p_runner text, p_lease interval,
                                     p_backoff interval[], p_max_attempts integer)
RETURNS TABLE (id bigint, plan_time timestamptz, attempt integer, lease_token uuid)
LANGUAGE plpgsql AS $$
DECLARE
    secs double precision := extract(epoch FROM p_interval);
    plan timestamptz;
BEGIN
    UPDATE scheduler.sys_cron_executions e
       SET status = 'FAILED', error_code = 'stale_timeout',
           error_msg = 'runner ' || e.runner_id || ' stopped heartbeating', finished_at = now()
     WHERE e.job_name = p_job AND e.status = 'RUNNING' AND e.stale_after < now();

    plan := to_timestamp(floor(extract(epoch FROM now() - p_interval) / secs) * secs);
    RETURN QUERY
    INSERT INTO scheduler.sys_cron_executions AS e
           (job_name, scope_kind, scope_id, plan_time, status, attempt, runner_id, lease_token,
            stale_after)
    VALUES (p_job, p_scope_kind, p_scope_id, plan, 'RUNNING', 1, p_runner, gen_random_uuid(),
            now() + p_lease)
    ON CONFLICT ON CONSTRAINT sys_cron_executions_job_name_scope_kind_scope_id_plan_time_key
    DO NOTHING
    RETURNING e.id, e.plan_time, e.attempt, e.lease_token;
    IF FOUND THEN
        RETURN;
    END IF;

    RETURN QUERY
    UPDATE scheduler.sys_cron_executions e
       SET status = 'RUNNING', attempt = e.attempt + 1, runner_id = p_runner,
           lease_token = gen_random_uuid(), stale_after = now() + p_lease, started_at = now(),
           finished_at = NULL, error_code = NULL, error_msg = NULL, sqlstate = NULL,
           result = NULL
     WHERE e.id = (SELECT f.id FROM scheduler.sys_cron_executions f
                    WHERE f.job_name = p_job AND f.scope_kind = p_scope_kind
                      AND f.scope_id = p_scope_id AND f.status = 'FAILED'
                      AND f.attempt < p_max_attempts
                      AND f.plan_time >= now() - greatest(interval '1 hour', 2 * p_interval)
                      AND f.finished_at + p_backoff[least(f.attempt, array_length(p_backoff, 1))]
                          <= now()
                    ORDER BY f.plan_time DESC
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED)
    RETURNING e.id, e.plan_time, e.attempt, e.lease_token;
END
$$;
COMMENT ON FUNCTION scheduler.claim_plan(text, text, text, interval, text, interval, interval[], integer) IS
    'Claims the current plan of a job (or retries a failed recent one after its backoff); returns the claim or nothing.';
