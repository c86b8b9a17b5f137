-- Issues created in one call and one commit (issue_writer.c, issue 17): the creations that
-- arrived while the gateway's issue writer was busy, for any workspaces. Each workspace's
-- counter moves once by its count, and its issues take the numbers after the old counter in
-- arrival order, so they stay consecutive and without gaps; the workspace's row is locked
-- for one statement and one commit, not for each creation's own. One row per creation, in
-- arrival order (ord), with the issue as the API answers it. Raises when a creation finds no
-- workspace, so that nothing commits unless every creation is in it.
CREATE OR REPLACE FUNCTION gateway.create_issues(p_id uuid[], p_workspace uuid[], p_title text[],
                                                 p_desc text[], p_status text[],
                                                 p_priority text[], p_user uuid[],
                                                 p_creator_type text[], p_agent uuid[])
RETURNS TABLE (ord bigint, issue text) LANGUAGE plpgsql AS $$
DECLARE
    made bigint;
BEGIN
    RETURN QUERY
    WITH x AS MATERIALIZED (
        SELECT u.*, row_number() OVER (PARTITION BY u.ws ORDER BY u.k) AS nth
          FROM unnest(p_id, p_workspace, p_title, p_desc, p_status, p_priority, p_user,
                      p_creator_type, p_agent)
               WITH ORDINALITY AS u(id, ws, title, descr, status, priority, usr, ctype, agent, k)),
    c AS (SELECT x.ws, count(*) AS n FROM x GROUP BY x.ws),
    w AS (UPDATE gateway.workspaces w SET issue_counter = w.issue_counter + c.n
            FROM c WHERE w.id = c.ws
          RETURNING w.id, w.issue_counter - c.n AS base, w.issue_prefix),
    i AS (INSERT INTO gateway.issues (id, workspace_id, number, title, description, status,
                                      priority, created_by, creator_type, creator_agent_id,
                                      project_id, project_version)
          SELECT x.id, x.ws, w.base + x.nth, x.title, coalesce(x.descr, ''),
                 coalesce(x.status, 'todo'), coalesce(x.priority, 'none'), x.usr, x.ctype,
                 x.agent, NULL, 0
            FROM x JOIN w ON w.id = x.ws
          RETURNING *)
    SELECT x.k, gateway.issue_json(i::gateway.issues, w.issue_prefix)::text
      FROM i JOIN x ON x.id = i.id JOIN w ON w.id = i.workspace_id
     ORDER BY x.k;
    GET DIAGNOSTICS made = ROW_COUNT;
    IF made <> coalesce(cardinality(p_id), 0) THEN
        RAISE EXCEPTION 'gateway.create_issues: % of % issues created (no such workspace)',
            made, coalesce(cardinality(p_id), 0);
    END IF;
END
$$;
COMMENT ON FUNCTION gateway.create_issues(uuid[], uuid[], text[], text[], text[], text[], uuid[],
                                          text[], uuid[]) IS
    'Issues created in one call (the issue writer''s group commit): one counter update per workspace, consecutive numbers in arrival order; one row per issue with its JSON.';
