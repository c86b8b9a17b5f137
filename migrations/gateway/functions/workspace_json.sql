-- A workspace as the API answers it (Multica's shape), with the caller's role in it when one is
-- given; without one the object has no role key at all (not a null one).
CREATE OR REPLACE FUNCTION gateway.workspace_json(w gateway.workspaces, p_role text DEFAULT NULL)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_role IS NULL
           THEN json_build_object('id', w.id, 'name', w.name, 'slug', w.slug,
                                  'issue_prefix', w.issue_prefix, 'created_at', w.created_at)
           ELSE json_build_object('id', w.id, 'name', w.name, 'slug', w.slug,
                                  'issue_prefix', w.issue_prefix, 'created_at', w.created_at,
                                  'role', p_role)
           END
$$;
COMMENT ON FUNCTION gateway.workspace_json(gateway.workspaces, text) IS
    'A workspace as JSON (id, name, slug, issue_prefix, created_at, then role when given).';
