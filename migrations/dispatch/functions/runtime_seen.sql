-- RuntimeRegistered / RuntimeHeartbeat: the runtime is alive (an older event changes nothing).
CREATE OR REPLACE FUNCTION dispatch.runtime_seen(p_runtime uuid, p_workspace uuid, p_max integer,
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
