-- An agent as the API answers it (Multica's shape). Agents here run locally through a daemon
-- and are never archived, so runtime_mode, status and archived_at are constants.
CREATE OR REPLACE FUNCTION gateway.agent_json(a gateway.agents)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', a.id, 'workspace_id', a.workspace_id, 'name', a.name,
                             'description', a.description, 'instructions', a.instructions,
                             'provider', a.provider, 'runtime_id', a.runtime_id,
                             'runtime_mode', 'local', 'status', 'active',
                             'max_concurrent_tasks', a.max_concurrent_tasks, 'archived_at', NULL,
                             'created_at', a.created_at)
$$;
COMMENT ON FUNCTION gateway.agent_json(gateway.agents) IS 'An agent as JSON, in Multica''s shape.';
