-- The DB-backed scheduler: one row per (job, scope, plan). Replicas claim a plan by inserting
-- its row (the unique key lets one win), heartbeat while running, and finish by writing the
-- row with their lease token, so a runner that was presumed dead cannot overwrite the result
-- of the replica that took over.

CREATE TABLE scheduler.sys_cron_executions (
    id          bigserial   PRIMARY KEY,
    job_name    text        NOT NULL,
    scope_kind  text        NOT NULL DEFAULT 'global',
    scope_id    text        NOT NULL DEFAULT '',
    plan_time   timestamptz NOT NULL,
    status      text        NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED')),
    attempt     integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    runner_id   text        NOT NULL,
    lease_token uuid        NOT NULL,
    stale_after timestamptz NOT NULL,
    error_code  text        CHECK (error_code IN ('handler_error', 'run_timeout', 'stale_timeout')),
    error_msg   text,
    sqlstate    text,
    result      jsonb,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (job_name, scope_kind, scope_id, plan_time)
);
COMMENT ON TABLE scheduler.sys_cron_executions IS
    'One row per planned run of a scheduled job: the claim (unique per plan), the lease, and the outcome.';
COMMENT ON COLUMN scheduler.sys_cron_executions.id IS 'Row id.';
COMMENT ON COLUMN scheduler.sys_cron_executions.job_name IS 'Job (for example rollup_task_usage_hourly).';
COMMENT ON COLUMN scheduler.sys_cron_executions.scope_kind IS 'What the job runs for (global for the rollup).';
COMMENT ON COLUMN scheduler.sys_cron_executions.scope_id IS 'Which one of that kind ('''' for global).';
COMMENT ON COLUMN scheduler.sys_cron_executions.plan_time IS 'Start of the plan slot: floor(db now - interval, interval).';
COMMENT ON COLUMN scheduler.sys_cron_executions.status IS 'RUNNING, SUCCESS or FAILED.';
COMMENT ON COLUMN scheduler.sys_cron_executions.attempt IS 'Attempt number; a retry reuses the row and increments it.';
COMMENT ON COLUMN scheduler.sys_cron_executions.runner_id IS 'Replica that runs (or ran) this attempt (host:pid).';
COMMENT ON COLUMN scheduler.sys_cron_executions.lease_token IS 'Token of the current attempt; writes must present it.';
COMMENT ON COLUMN scheduler.sys_cron_executions.stale_after IS 'A RUNNING attempt not heartbeated past this time is declared stale.';
COMMENT ON COLUMN scheduler.sys_cron_executions.error_code IS 'handler_error, run_timeout or stale_timeout when FAILED.';
COMMENT ON COLUMN scheduler.sys_cron_executions.error_msg IS 'Error message when FAILED.';
COMMENT ON COLUMN scheduler.sys_cron_executions.sqlstate IS 'SQLSTATE of the failing statement, when the job failed in SQL.';
COMMENT ON COLUMN scheduler.sys_cron_executions.result IS 'What the job reported (the rollup: changed buckets, lock id, watermark before and after).';
COMMENT ON COLUMN scheduler.sys_cron_executions.started_at IS 'Start of the current attempt.';
COMMENT ON COLUMN scheduler.sys_cron_executions.finished_at IS 'End of the last attempt.';
CREATE INDEX sys_cron_executions_job_status_idx
    ON scheduler.sys_cron_executions (job_name, status, plan_time DESC);

-- One claim attempt of a tick: declares stale attempts failed, tries to insert the current
-- plan, and otherwise takes a failed recent plan (within the last hour, or two intervals when
-- that is longer) for a retry once its backoff has passed.
-- Returns the claimed row (id, plan, attempt, lease) or nothing.
CREATE FUNCTION scheduler.claim_plan(p_job text, p_scope_kind text, p_scope_id text,
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

CREATE FUNCTION scheduler.heartbeat(p_id bigint, p_lease uuid, p_extend interval)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (
        UPDATE scheduler.sys_cron_executions SET stale_after = now() + p_extend
         WHERE id = p_id AND lease_token = p_lease AND status = 'RUNNING'
        RETURNING 1)
    SELECT count(*) = 1 FROM u
$$;
COMMENT ON FUNCTION scheduler.heartbeat(bigint, uuid, interval) IS
    'Extends a running attempt''s lease; false when the attempt is no longer ours.';

CREATE FUNCTION scheduler.finish(p_id bigint, p_lease uuid, p_status text, p_result jsonb,
                                 p_error_code text, p_error_msg text, p_sqlstate text)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (
        UPDATE scheduler.sys_cron_executions
           SET status = p_status, result = p_result, error_code = p_error_code,
               error_msg = p_error_msg, sqlstate = p_sqlstate, finished_at = clock_timestamp()
         WHERE id = p_id AND lease_token = p_lease AND status = 'RUNNING'
        RETURNING 1)
    SELECT count(*) = 1 FROM u
$$;
COMMENT ON FUNCTION scheduler.finish(bigint, uuid, text, jsonb, text, text, text) IS
    'Records the outcome of an attempt; false (and nothing written) when the lease was lost.';
