DROP FUNCTION IF EXISTS gateway.runtime_online(gateway.runtimes);
DROP FUNCTION IF EXISTS gateway.workspace_json(gateway.workspaces, text);
DROP TABLE gateway.runtimes;
DROP TABLE gateway.workspaces;
