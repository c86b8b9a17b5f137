DROP TABLE gateway.runtimes;
DROP TABLE gateway.workspaces;
