-- Whether a user belongs to a workspace: the check behind every member-only statement.
-- PL/pgSQL on purpose: the planner never inlines a SQL function whose body has a subquery,
-- and a SQL function it does not inline is parsed and planned again at every execution of
-- the calling statement (tens of microseconds a call, measured on PostgreSQL 15), while
-- PL/pgSQL keeps the plan of its members_pkey lookup for the session (about the cost of the
-- bare EXISTS).
CREATE OR REPLACE FUNCTION gateway.is_member(p_workspace uuid, p_user uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM gateway.members m
                    WHERE m.workspace_id = p_workspace AND m.user_id = p_user);
END
$$;
COMMENT ON FUNCTION gateway.is_member(uuid, uuid) IS
    'True when the user is a member (any role) of the workspace.';
