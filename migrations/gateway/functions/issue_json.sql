-- An issue as the API answers it (Multica's shape): its key (identifier) is its workspace's
-- issue prefix, which the caller passes (it joins the workspace), and its number (ABC-12);
-- creator_id is the agent that created it, else the member. One expression without a
-- subquery, so the planner inlines it into the calling statement.
CREATE OR REPLACE FUNCTION gateway.issue_json(i gateway.issues, p_prefix text)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', i.id, 'workspace_id', i.workspace_id, 'number', i.number,
                             'identifier', p_prefix || '-' || i.number,
                             'title', i.title, 'description', i.description,
                             'status', i.status, 'priority', i.priority,
                             'assignee_type', i.assignee_type, 'assignee_id', i.assignee_id,
                             'creator_type', i.creator_type,
                             'creator_id', coalesce(i.creator_agent_id, i.created_by),
                             'created_by', i.created_by, 'project_id', i.project_id,
                             'created_at', i.created_at, 'updated_at', i.updated_at)
$$;
COMMENT ON FUNCTION gateway.issue_json(gateway.issues, text) IS
    'An issue as JSON, in Multica''s shape, with its key (identifier) such as ABC-12 made of the given workspace prefix.';
