-- mc:replaces-checksum b0948f8997a19829
-- (This file once held the slice's SQL functions too; they moved to functions/, one file
-- each, re-applied after the numbered migrations. The checksum above is the old file's,
-- so that a database that applied it records the new text instead of warning.)
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