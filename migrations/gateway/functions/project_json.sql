-- A project as the API answers it (Multica's shape), with the counts of its issues and of
-- those done (both from issues_project_idx). Resources are not kept: resource_count is 0.
-- PL/pgSQL, as is_member.sql explains: the counts are subqueries, which keep a SQL function
-- from being inlined, and PL/pgSQL keeps their plans for the session.
CREATE OR REPLACE FUNCTION gateway.project_json(p gateway.projects)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object('id', p.id, 'workspace_id', p.workspace_id, 'title', p.title,
                             'description', p.description, 'icon', p.icon, 'status', p.status,
                             'priority', p.priority, 'lead_type', p.lead_type,
                             'lead_id', p.lead_id, 'start_date', p.start_date,
                             'due_date', p.due_date, 'created_at', p.created_at,
                             'updated_at', p.updated_at,
                             'issue_count', (SELECT count(*) FROM gateway.issues i
                                              WHERE i.project_id = p.id),
                             'done_count', (SELECT count(*) FROM gateway.issues i
                                             WHERE i.project_id = p.id AND i.status = 'done'),
                             'resource_count', 0);
END
$$;
COMMENT ON FUNCTION gateway.project_json(gateway.projects) IS
    'A project as JSON, in Multica''s shape, with its issue_count and done_count.';
