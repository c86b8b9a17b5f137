-- Whether a user belongs to a workspace: the check behind every member-only statement. SQL,
-- STABLE and one expression, so the planner inlines it and the lookup stays on the members
-- primary key (workspace_id, user_id).
CREATE OR REPLACE FUNCTION gateway.is_member(p_workspace uuid, p_user uuid)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM gateway.members m
                    WHERE m.workspace_id = p_workspace AND m.user_id = p_user)
$$;
COMMENT ON FUNCTION gateway.is_member(uuid, uuid) IS
    'True when the user is a member (any role) of the workspace.';
