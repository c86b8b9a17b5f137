-- Whether a runtime is online: seen within the dispatcher's default RUNTIME_ONLINE_WINDOW
-- (150 s; the gateway does not read that setting) and not deregistered by its daemon.
CREATE OR REPLACE FUNCTION gateway.runtime_online(r gateway.runtimes)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT r.offline_at IS NULL AND r.last_seen_at > now() - interval '150 seconds'
$$;
COMMENT ON FUNCTION gateway.runtime_online(gateway.runtimes) IS
    'True while the runtime was seen in the last 150 seconds and did not go offline.';
