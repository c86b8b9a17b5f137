-- The issues of a workspace that an issue list's filters keep (a NULL filter keeps all). SQL
-- and STABLE, so the planner inlines it into the calling query and the list still reads
-- issues_workspace_number_key.
CREATE OR REPLACE FUNCTION gateway.issues_matching(p_workspace uuid, p_status text,
                                                   p_assignee uuid, p_priority text)
RETURNS SETOF gateway.issues
LANGUAGE sql STABLE AS $$
    SELECT * FROM gateway.issues i
     WHERE i.workspace_id = p_workspace AND (p_status IS NULL OR i.status = p_status)
       AND (p_assignee IS NULL OR i.assignee_id = p_assignee)
       AND (p_priority IS NULL OR i.priority = p_priority)
$$;
COMMENT ON FUNCTION gateway.issues_matching(uuid, text, uuid, text) IS
    'The issues of a workspace with the given status, assignee and priority (NULL: any).';
