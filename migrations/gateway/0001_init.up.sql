-- The gateway slice: users, sessions, workspaces, agents, runtimes, issues and the task read
-- model. Owned by multica_gateway; no other role writes here.
COMMENT ON SCHEMA gateway IS 'api-gateway slice: identities, workspaces, agents, runtimes, issues, task read model';
REVOKE ALL ON SCHEMA gateway FROM PUBLIC;
