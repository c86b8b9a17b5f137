-- The task state machine as functions: one call per command, per dispatch round and per sweep.
-- Each locks the rows it changes, checks the move against dispatch.state_machine, bumps the
-- task's version, logs the change in dispatch.task_transitions and returns one
-- dispatch.task_change row per task it looked at. The service turns applied rows into task
-- events and writes them to dispatch.outbox before it commits the same transaction.

-- RFC 3339 in UTC with microseconds, the form every Multica event uses.
CREATE OR REPLACE FUNCTION dispatch.rfc3339(p_ts timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
COMMENT ON FUNCTION dispatch.rfc3339(timestamptz) IS 'Formats a time as RFC 3339 UTC with microseconds.';
