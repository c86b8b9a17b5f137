-- What a usage read needs to know before it reads, in the read's own statement (one round trip
-- instead of four; services/api-gateway/usage_sql.inc): the workspace of the runtime or
-- workspace read (p_runtime or p_workspace; NULL: no such runtime), whether the caller may read
-- it (p_user is a member, and the workspace is p_in_workspace when that is given: a task token
-- acts in its own workspace only), and the zone to cut days in: ?tz (p_tz) when it is a known
-- zone, else the user's stored zone, else UTC (gateway.viewing_tz); with p_strict, a ?tz given
-- must be a known zone and is used trimmed, as known_tz reads it (NULL when it is not one: the
-- read answers 400).
CREATE OR REPLACE FUNCTION gateway.usage_read_scope(p_runtime uuid, p_workspace uuid,
                                                    p_user uuid, p_in_workspace uuid,
                                                    p_tz text, p_strict boolean)
RETURNS TABLE (workspace_id uuid, member boolean, tz text)
LANGUAGE sql STABLE AS $$
    SELECT s.ws,
           (p_in_workspace IS NULL OR s.ws = p_in_workspace)
               AND EXISTS (SELECT FROM gateway.members m
                            WHERE m.workspace_id = s.ws AND m.user_id = p_user),
           CASE WHEN p_strict AND p_tz IS NOT NULL
                THEN CASE WHEN gateway.known_tz(p_tz) THEN btrim(p_tz) END
                ELSE gateway.viewing_tz(p_tz, p_user) END
      FROM (SELECT CASE WHEN p_runtime IS NULL THEN p_workspace
                        ELSE (SELECT r.workspace_id FROM gateway.runtimes r
                               WHERE r.id = p_runtime) END AS ws
            OFFSET 0) s
    -- OFFSET 0 (both): inlined into the read's statement, a subquery pulled up would have its
    -- expressions (the lookups, the zone) computed once for each use.
    OFFSET 0
$$;
COMMENT ON FUNCTION gateway.usage_read_scope(uuid, uuid, uuid, uuid, text, boolean) IS
    'A usage read''s workspace (NULL: no such runtime), whether the caller may read it, and the zone it cuts days in (NULL: a strict ?tz that is no zone).';
